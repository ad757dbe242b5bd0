"""vrrp_group: one VRRP router id per ACTIVE_STANDBY load balancer on its VIP network

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'vrrp_group',
        sa.Column('network_id', sa.String(length=36), nullable=False),
        sa.Column('vrrp_id', sa.Integer(), nullable=False),
        sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('network_id', 'vrrp_id', name=op.f('pk_vrrp_group')),
        sa.UniqueConstraint('loadbalancer_id', name=op.f('uq_vrrp_group_loadbalancer_id')),
    )


def downgrade() -> None:
    op.drop_table('vrrp_group')
