"""floating ips: external networks, floating IPs and their implicit routers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'external_network',
        sa.Column('network_id', sa.String(length=36), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('network_id', name=op.f('pk_external_network')),
    )
    op.create_table(
        'floating_ip',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('project_id', sa.String(length=255), nullable=False),
        sa.Column('description', sa.String(length=255), nullable=False),
        sa.Column('floating_network_id', sa.String(length=36), nullable=False),
        sa.Column('floating_subnet_id', sa.String(length=36), nullable=False),
        sa.Column('floating_port_id', sa.String(length=36), nullable=False),
        sa.Column('floating_ip_address', sa.String(length=64), nullable=False),
        sa.Column('fixed_port_id', sa.String(length=36), nullable=True),
        sa.Column('fixed_ip_address', sa.String(length=64), nullable=True),
        sa.Column('router_id', sa.String(length=36), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('tags', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_floating_ip')),
        sa.UniqueConstraint('floating_port_id', name=op.f('uq_floating_ip_floating_port_id')),
        sa.UniqueConstraint('floating_network_id', 'floating_ip_address',
                            name='uq_floating_ip_network_address'),
        sa.UniqueConstraint('fixed_port_id', 'fixed_ip_address', name='uq_floating_ip_fixed'),
    )
    with op.batch_alter_table('floating_ip', schema=None) as batch_op:
        for column in ('project_id', 'floating_network_id', 'fixed_port_id', 'router_id',
                       'created_at'):
            batch_op.create_index(batch_op.f(f'ix_floating_ip_{column}'), [column],
                                  unique=False)
    op.create_table(
        'floating_router',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('subnet_id', sa.String(length=36), nullable=False),
        sa.Column('network_id', sa.String(length=36), nullable=False),
        sa.Column('port_id', sa.String(length=36), nullable=False),
        sa.Column('external_network_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_floating_router')),
        sa.UniqueConstraint('subnet_id', name=op.f('uq_floating_router_subnet_id')),
    )
    with op.batch_alter_table('floating_router', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_floating_router_external_network_id'),
                              ['external_network_id'], unique=False)


def downgrade() -> None:
    op.drop_table('floating_router')
    op.drop_table('floating_ip')
    op.drop_table('external_network')
