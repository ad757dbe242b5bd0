"""listener.connection_logging: per-listener access logs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing listeners log, as Octavia's default does.
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.add_column(sa.Column('connection_logging', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.drop_column('connection_logging')
