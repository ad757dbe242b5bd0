"""list order indexes: (project_id, created_at, id) for the Octavia collections, (pool_id,
created_at, id) for members, (loadbalancer_id, created_at, id) for a page's child ids

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_load_balancer_list_order', 'load_balancer', ['project_id', 'created_at', 'id']),
    ('ix_listener_list_order', 'listener', ['project_id', 'created_at', 'id']),
    ('ix_pool_list_order', 'pool', ['project_id', 'created_at', 'id']),
    ('ix_health_monitor_list_order', 'health_monitor', ['project_id', 'created_at', 'id']),
    ('ix_member_list_order', 'member', ['pool_id', 'created_at', 'id']),
    ('ix_listener_lb_order', 'listener', ['loadbalancer_id', 'created_at', 'id']),
    ('ix_pool_lb_order', 'pool', ['loadbalancer_id', 'created_at', 'id']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
