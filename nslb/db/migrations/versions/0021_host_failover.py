"""host failover: host.admin_state (drain) and host_cleanup (deletes deferred to a host's return)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('host') as batch:
        batch.add_column(sa.Column('admin_state', sa.String(length=16), nullable=False,
                                   server_default='ACTIVE'))
    op.create_table(
        'host_cleanup',
        sa.Column('amphora_id', sa.String(length=36), nullable=False),
        sa.Column('host_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('amphora_id', name=op.f('pk_host_cleanup')),
    )
    op.create_index(op.f('ix_host_cleanup_host_id'), 'host_cleanup', ['host_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_host_cleanup_host_id'), table_name='host_cleanup')
    op.drop_table('host_cleanup')
    with op.batch_alter_table('host') as batch:
        batch.drop_column('admin_state')
