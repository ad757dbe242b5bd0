"""event_outbox: notifications written with the change they tell about (nslb/events)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'event_outbox',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('message_id', sa.String(length=36), nullable=False),
        sa.Column('loadbalancer_id', sa.String(length=36), nullable=True),
        sa.Column('project_id', sa.String(length=255), nullable=True),
        sa.Column('generation', sa.Integer(), nullable=True),
        sa.Column('event_type', sa.String(length=255), nullable=False),
        sa.Column('priority', sa.String(length=16), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('seq', name=op.f('pk_event_outbox')),
        sa.UniqueConstraint('message_id', name=op.f('uq_event_outbox_message_id')),
        sqlite_autoincrement=True,
    )
    for column in ('loadbalancer_id', 'project_id', 'delivered_at'):
        op.create_index(op.f(f'ix_event_outbox_{column}'), 'event_outbox', [column])


def downgrade() -> None:
    op.drop_table('event_outbox')
