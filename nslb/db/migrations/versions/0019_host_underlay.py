"""host.underlay_address: where a host's VXLAN tunnels end (networks that span hosts)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('host') as batch:
        batch.add_column(sa.Column('underlay_address', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('host') as batch:
        batch.drop_column('underlay_address')
