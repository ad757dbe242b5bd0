"""l7policy: the FIXED_RESPONSE action's fields (an nslb extension)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('l7policy') as batch:
        batch.add_column(sa.Column('fixed_response_status_code', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('fixed_response_content_type', sa.String(length=64),
                                   nullable=True))
        batch.add_column(sa.Column('fixed_response_body', sa.String(length=1024),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('l7policy') as batch:
        batch.drop_column('fixed_response_body')
        batch.drop_column('fixed_response_content_type')
        batch.drop_column('fixed_response_status_code')
