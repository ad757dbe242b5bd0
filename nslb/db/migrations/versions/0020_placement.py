"""placement: Octavia availability zones and their profiles; Nova-style compute flavors
and host aggregates (the scheduler's inputs, nslb/placement)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'availability_zone_profile',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('provider_name', sa.String(length=255), nullable=False),
        sa.Column('availability_zone_data', sa.String(length=4096), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_zone_profile')),
    )
    op.create_table(
        'availability_zone',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('availability_zone_profile_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['availability_zone_profile_id'], ['availability_zone_profile.id'],
            name=op.f('fk_availability_zone_availability_zone_profile_id_'
                      'availability_zone_profile')),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_availability_zone')),
    )
    op.create_table(
        'compute_flavor',
        sa.Column('id', sa.String(length=255), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('ram', sa.Integer(), nullable=False),
        sa.Column('vcpus', sa.Integer(), nullable=False),
        sa.Column('disk', sa.Integer(), nullable=False),
        sa.Column('is_public', sa.Boolean(), nullable=False),
        sa.Column('description', sa.String(length=65535), nullable=True),
        sa.Column('extra_specs', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_flavor')),
        sa.UniqueConstraint('name', name=op.f('uq_compute_flavor_name')),
    )
    op.create_table(
        'compute_aggregate',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('uuid', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('availability_zone', sa.String(length=255), nullable=True),
        sa.Column('meta', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_aggregate')),
        sa.UniqueConstraint('name', name=op.f('uq_compute_aggregate_name')),
    )
    op.create_table(
        'compute_aggregate_host',
        sa.Column('aggregate_id', sa.Integer(), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(['aggregate_id'], ['compute_aggregate.id'],
                                name=op.f('fk_compute_aggregate_host_aggregate_id_'
                                          'compute_aggregate'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('aggregate_id', 'host', name=op.f('pk_compute_aggregate_host')),
    )


def downgrade() -> None:
    op.drop_table('compute_aggregate_host')
    op.drop_table('compute_aggregate')
    op.drop_table('compute_flavor')
    op.drop_table('availability_zone')
    op.drop_table('availability_zone_profile')
