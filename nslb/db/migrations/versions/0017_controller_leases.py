"""controller_lease, cluster_state, login_throttle: several controllers on one database

Units of work are claimed through leases (nslb/db/leases.py); identity changes bump a
counter every controller's validation cache compares (nslb/identity/service.py); the
login throttle counts in the database (nslb/identity/shared_throttle.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'controller_lease',
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('owner', sa.String(length=255), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('acquired_at', sa.Float(), nullable=False),
        sa.Column('term', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_controller_lease')),
    )
    op.create_index(op.f('ix_controller_lease_owner'), 'controller_lease', ['owner'])
    op.create_table(
        'cluster_state',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('counter', sa.BigInteger(), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_cluster_state')),
    )
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=32), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('closed_until', sa.Float(), nullable=False),
        sa.Column('seen', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle')),
    )
    op.create_index(op.f('ix_login_throttle_seen'), 'login_throttle', ['seen'])


def downgrade() -> None:
    op.drop_table('login_throttle')
    op.drop_table('cluster_state')
    op.drop_table('controller_lease')
