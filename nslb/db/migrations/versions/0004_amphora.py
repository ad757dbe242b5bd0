"""amphora: the unit of the data plane; 64-bit listener counters

Every existing load balancer becomes one STANDALONE amphora with the LB's own id, so the
namespace `nslb-<id>` and the haproxy already serving it are adopted unchanged (the driver
moves `<state>/lb/<id>` to `<state>/amphora/<id>` and leaves a symlink for the running
process). Its applied generation is the LB's, so nothing is re-applied for the upgrade.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import socket
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COUNTERS = ('bytes_in', 'bytes_out', 'total_connections', 'request_errors',
            'active_connections')


def upgrade() -> None:
    amphora = op.create_table(
        'amphora',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('loadbalancer_id', sa.String(length=36), nullable=True),
        sa.Column('compute_id', sa.String(length=255), nullable=True),
        sa.Column('lb_network_ip', sa.String(length=64), nullable=True),
        sa.Column('vrrp_ip', sa.String(length=64), nullable=True),
        sa.Column('ha_ip', sa.String(length=64), nullable=True),
        sa.Column('vrrp_port_id', sa.String(length=36), nullable=True),
        sa.Column('ha_port_id', sa.String(length=36), nullable=True),
        sa.Column('role', sa.String(length=36), nullable=True),
        sa.Column('status', sa.String(length=36), nullable=False),
        sa.Column('vrrp_interface', sa.String(length=16), nullable=True),
        sa.Column('vrrp_id', sa.Integer(), nullable=True),
        sa.Column('vrrp_priority', sa.Integer(), nullable=True),
        sa.Column('cached_zone', sa.String(length=255), nullable=True),
        sa.Column('image_id', sa.String(length=36), nullable=True),
        sa.Column('compute_flavor', sa.String(length=255), nullable=True),
        sa.Column('cert_expiration', sa.DateTime(), nullable=True),
        sa.Column('cert_busy', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('applied_generation', sa.BigInteger(), nullable=False),
        sa.Column('applied_hash', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'],
                                name=op.f('fk_amphora_loadbalancer_id_load_balancer')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_amphora')),
    )
    with op.batch_alter_table('amphora', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_amphora_loadbalancer_id'), ['loadbalancer_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_amphora_status'), ['status'], unique=False)
    _adopt_existing_load_balancers(amphora)
    with op.batch_alter_table('listener_statistics', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.alter_column(name, existing_type=sa.Integer(), type_=sa.BigInteger(),
                                  existing_nullable=False)


def _adopt_existing_load_balancers(amphora: sa.Table) -> None:
    lbs = sa.table('load_balancer', sa.column('id'), sa.column('vip_address'),
                   sa.column('vip_port_id'), sa.column('provisioning_status'),
                   sa.column('applied_generation'))
    bind = op.get_bind()
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = bind.execute(sa.select(lbs).where(lbs.c.provisioning_status != 'DELETED')).all()
    if rows:
        op.bulk_insert(amphora, [{
            'id': row.id, 'loadbalancer_id': row.id, 'compute_id': socket.gethostname(),
            'ha_ip': row.vip_address, 'ha_port_id': row.vip_port_id, 'role': 'STANDALONE',
            'status': 'ALLOCATED', 'cert_busy': False, 'created_at': now,
            'applied_generation': row.applied_generation, 'applied_hash': None,
        } for row in rows])


def downgrade() -> None:
    with op.batch_alter_table('listener_statistics', schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.alter_column(name, existing_type=sa.BigInteger(), type_=sa.Integer(),
                                  existing_nullable=False)
    with op.batch_alter_table('amphora', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_amphora_status'))
        batch_op.drop_index(batch_op.f('ix_amphora_loadbalancer_id'))
    op.drop_table('amphora')
