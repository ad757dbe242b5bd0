"""listener: one listener per protocol and port on an LB (UDP 53 next to TCP 53)

Octavia's constraint (load_balancer_id, protocol, protocol_port); the API refuses two
listeners of one layer-4 protocol on a port (HTTP 80 and TCP 80) under the LB's lock.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.drop_constraint('uq_listener_lb_port', type_='unique')
        batch_op.create_unique_constraint(
            'uq_listener_lb_protocol_port', ['loadbalancer_id', 'protocol', 'protocol_port'])


def downgrade() -> None:
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.drop_constraint('uq_listener_lb_protocol_port', type_='unique')
        batch_op.create_unique_constraint('uq_listener_lb_port',
                                          ['loadbalancer_id', 'protocol_port'])
