"""flavors: flavor profiles and flavors (Octavia's flavor API)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flavor_profile',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('provider_name', sa.String(length=255), nullable=False),
        sa.Column('flavor_data', sa.String(length=4096), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flavor_profile')),
    )
    op.create_table(
        'flavor',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('flavor_profile_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['flavor_profile_id'], ['flavor_profile.id'],
                                name=op.f('fk_flavor_flavor_profile_id_flavor_profile')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_flavor')),
        sa.UniqueConstraint('name', name=op.f('uq_flavor_name')),
    )
    with op.batch_alter_table('flavor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flavor_flavor_profile_id'), ['flavor_profile_id'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('flavor')
    op.drop_table('flavor_profile')
