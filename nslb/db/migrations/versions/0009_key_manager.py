"""key manager: secrets, sealed payloads, containers, read ACLs and secret consumers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _index(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        'km_secret',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('secret_type', sa.String(length=80), nullable=False),
        sa.Column('algorithm', sa.String(length=255), nullable=True),
        sa.Column('bit_length', sa.Integer(), nullable=True),
        sa.Column('mode', sa.String(length=255), nullable=True),
        sa.Column('expiration', sa.DateTime(), nullable=True),
        sa.Column('content_type', sa.String(length=255), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_km_secret')),
    )
    _index('km_secret', 'project_id', 'created_at')
    op.create_table(
        'km_secret_payload',
        sa.Column('secret_id', sa.String(length=36), nullable=False),
        sa.Column('key_id', sa.Integer(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['secret_id'], ['km_secret.id'],
                                name=op.f('fk_km_secret_payload_secret_id_km_secret')),
        sa.PrimaryKeyConstraint('secret_id', name=op.f('pk_km_secret_payload')),
    )
    _index('km_secret_payload', 'key_id')
    op.create_table(
        'km_container',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('creator_id', sa.String(length=255), nullable=True),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_km_container')),
    )
    _index('km_container', 'project_id', 'created_at')
    op.create_table(
        'km_container_secret',
        sa.Column('container_id', sa.String(length=36), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('secret_id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(['container_id'], ['km_container.id'],
                                name=op.f('fk_km_container_secret_container_id_km_container')),
        sa.PrimaryKeyConstraint('container_id', 'position',
                                name=op.f('pk_km_container_secret')),
    )
    _index('km_container_secret', 'secret_id')
    op.create_table(
        'km_acl',
        sa.Column('entity_id', sa.String(length=36), nullable=False),
        sa.Column('operation', sa.String(length=20), nullable=False),
        sa.Column('entity_type', sa.String(length=20), nullable=False),
        sa.Column('project_access', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('entity_id', 'operation', name=op.f('pk_km_acl')),
    )
    op.create_table(
        'km_acl_user',
        sa.Column('entity_id', sa.String(length=36), nullable=False),
        sa.Column('operation', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('entity_id', 'operation', 'user_id',
                                name=op.f('pk_km_acl_user')),
    )
    _index('km_acl_user', 'user_id')
    op.create_table(
        'km_secret_consumer',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('secret_id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('service', sa.String(length=255), nullable=False),
        sa.Column('resource_type', sa.String(length=255), nullable=False),
        sa.Column('resource_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['secret_id'], ['km_secret.id'],
                                name=op.f('fk_km_secret_consumer_secret_id_km_secret')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_km_secret_consumer')),
        sa.UniqueConstraint('secret_id', 'service', 'resource_type', 'resource_id',
                            name='uq_km_secret_consumer_resource'),
    )
    _index('km_secret_consumer', 'secret_id')


def downgrade() -> None:
    op.drop_table('km_secret_consumer')
    op.drop_table('km_acl_user')
    op.drop_table('km_acl')
    op.drop_table('km_container_secret')
    op.drop_table('km_container')
    op.drop_table('km_secret_payload')
    op.drop_table('km_secret')
