"""amphora_health: heartbeats of amphorae on other hosts (nslb/heartbeat)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'amphora_health',
        sa.Column('amphora_id', sa.String(length=36), nullable=False),
        sa.Column('last_update', sa.DateTime(), nullable=False),
        sa.Column('busy', sa.Boolean(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('amphora_id', name=op.f('pk_amphora_health')),
    )


def downgrade() -> None:
    op.drop_table('amphora_health')
