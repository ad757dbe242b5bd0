"""host, join_token, revoked_cert: agents on other hosts over mutual TLS (nslb/pki)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'host',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('address', sa.String(length=255), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('cert_serial', sa.String(length=64), nullable=True),
        sa.Column('cert_expiry', sa.DateTime(), nullable=True),
        sa.Column('max_amphorae', sa.Integer(), nullable=False),
        sa.Column('cpu_count', sa.Integer(), nullable=False),
        sa.Column('memory_mb', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_host')),
    )
    op.create_table(
        'join_token',
        sa.Column('id', sa.String(length=16), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('host_id', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_join_token')),
    )
    op.create_table(
        'revoked_cert',
        sa.Column('serial', sa.String(length=64), nullable=False),
        sa.Column('host_id', sa.String(length=36), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('serial', name=op.f('pk_revoked_cert')),
    )


def downgrade() -> None:
    op.drop_table('revoked_cert')
    op.drop_table('join_token')
    op.drop_table('host')
