"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('listener_statistics',
    sa.Column('listener_id', sa.String(length=36), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('bytes_in', sa.Integer(), nullable=False),
    sa.Column('bytes_out', sa.Integer(), nullable=False),
    sa.Column('total_connections', sa.Integer(), nullable=False),
    sa.Column('request_errors', sa.Integer(), nullable=False),
    sa.Column('active_connections', sa.Integer(), nullable=False),
    sa.Column('process_start', sa.Float(), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('listener_id', name=op.f('pk_listener_statistics'))
    )
    with op.batch_alter_table('listener_statistics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listener_statistics_loadbalancer_id'), ['loadbalancer_id'], unique=False)

    op.create_table('load_balancer',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('vip_address', sa.String(length=64), nullable=False),
    sa.Column('vip_port_id', sa.String(length=36), nullable=False),
    sa.Column('vip_subnet_id', sa.String(length=36), nullable=False),
    sa.Column('vip_network_id', sa.String(length=36), nullable=False),
    sa.Column('vip_qos_policy_id', sa.String(length=36), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('flavor_id', sa.String(length=36), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('applied_generation', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_balancer'))
    )
    with op.batch_alter_table('load_balancer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_balancer_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_load_balancer_project_id'), ['project_id'], unique=False)

    op.create_table('network',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('mtu', sa.Integer(), nullable=False),
    sa.Column('network_type', sa.String(length=16), nullable=False),
    sa.Column('physical_network', sa.String(length=64), nullable=True),
    sa.Column('segmentation_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_network')),
    sa.UniqueConstraint('physical_network', 'segmentation_id', name='uq_network_physnet_vlan')
    )
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_network_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_network_project_id'), ['project_id'], unique=False)

    op.create_table('quota',
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('loadbalancer', sa.Integer(), nullable=True),
    sa.Column('listener', sa.Integer(), nullable=True),
    sa.Column('pool', sa.Integer(), nullable=True),
    sa.Column('member', sa.Integer(), nullable=True),
    sa.Column('healthmonitor', sa.Integer(), nullable=True),
    sa.Column('l7policy', sa.Integer(), nullable=True),
    sa.Column('l7rule', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_quota'))
    )
    op.create_table('listener',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('protocol_port', sa.Integer(), nullable=False),
    sa.Column('connection_limit', sa.Integer(), nullable=False),
    sa.Column('default_pool_id', sa.String(length=36), nullable=True),
    sa.Column('timeout_client_data', sa.Integer(), nullable=False),
    sa.Column('timeout_member_connect', sa.Integer(), nullable=False),
    sa.Column('timeout_member_data', sa.Integer(), nullable=False),
    sa.Column('timeout_tcp_inspect', sa.Integer(), nullable=False),
    sa.Column('allowed_cidrs', sa.Text(), nullable=False),
    sa.Column('insert_headers', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'], name=op.f('fk_listener_loadbalancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listener')),
    sa.UniqueConstraint('loadbalancer_id', 'protocol_port', name='uq_listener_lb_port')
    )
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listener_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_listener_loadbalancer_id'), ['loadbalancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_listener_project_id'), ['project_id'], unique=False)

    op.create_table('pool',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('lb_algorithm', sa.String(length=32), nullable=False),
    sa.Column('session_persistence', sa.Text(), nullable=True),
    sa.Column('tls_enabled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'], name=op.f('fk_pool_loadbalancer_id_load_balancer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pool'))
    )
    with op.batch_alter_table('pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pool_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pool_loadbalancer_id'), ['loadbalancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pool_project_id'), ['project_id'], unique=False)

    op.create_table('port',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('mac_address', sa.String(length=32), nullable=False),
    sa.Column('fixed_ips', sa.Text(), nullable=False),
    sa.Column('device_owner', sa.String(length=255), nullable=False),
    sa.Column('device_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['network_id'], ['network.id'], name=op.f('fk_port_network_id_network')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_port'))
    )
    with op.batch_alter_table('port', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_port_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_port_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_port_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_port_project_id'), ['project_id'], unique=False)

    op.create_table('subnet',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('network_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('ip_version', sa.Integer(), nullable=False),
    sa.Column('cidr', sa.String(length=64), nullable=False),
    sa.Column('gateway_ip', sa.String(length=64), nullable=True),
    sa.Column('allocation_pools', sa.Text(), nullable=False),
    sa.Column('host_routes', sa.Text(), nullable=False),
    sa.Column('dns_nameservers', sa.Text(), nullable=False),
    sa.Column('enable_dhcp', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['network_id'], ['network.id'], name=op.f('fk_subnet_network_id_network')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subnet'))
    )
    with op.batch_alter_table('subnet', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subnet_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subnet_network_id'), ['network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subnet_project_id'), ['project_id'], unique=False)

    op.create_table('health_monitor',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('pool_id', sa.String(length=36), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=36), nullable=False),
    sa.Column('delay', sa.Integer(), nullable=False),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('max_retries', sa.Integer(), nullable=False),
    sa.Column('max_retries_down', sa.Integer(), nullable=False),
    sa.Column('http_method', sa.String(length=16), nullable=True),
    sa.Column('url_path', sa.String(length=2048), nullable=True),
    sa.Column('expected_codes', sa.String(length=64), nullable=True),
    sa.Column('http_version', sa.Float(), nullable=True),
    sa.Column('domain_name', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'], name=op.f('fk_health_monitor_loadbalancer_id_load_balancer')),
    sa.ForeignKeyConstraint(['pool_id'], ['pool.id'], name=op.f('fk_health_monitor_pool_id_pool')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_health_monitor')),
    sa.UniqueConstraint('pool_id', name=op.f('uq_health_monitor_pool_id'))
    )
    with op.batch_alter_table('health_monitor', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_health_monitor_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_health_monitor_loadbalancer_id'), ['loadbalancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_health_monitor_project_id'), ['project_id'], unique=False)

    op.create_table('ip_allocation',
    sa.Column('subnet_id', sa.String(length=36), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=False),
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['port_id'], ['port.id'], name=op.f('fk_ip_allocation_port_id_port')),
    sa.ForeignKeyConstraint(['subnet_id'], ['subnet.id'], name=op.f('fk_ip_allocation_subnet_id_subnet')),
    sa.PrimaryKeyConstraint('subnet_id', 'ip_address', name=op.f('pk_ip_allocation'))
    )
    with op.batch_alter_table('ip_allocation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ip_allocation_port_id'), ['port_id'], unique=False)

    op.create_table('member',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('provisioning_status', sa.String(length=16), nullable=False),
    sa.Column('operating_status', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('pool_id', sa.String(length=36), nullable=False),
    sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('protocol_port', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('backup', sa.Boolean(), nullable=False),
    sa.Column('subnet_id', sa.String(length=36), nullable=True),
    sa.Column('monitor_address', sa.String(length=64), nullable=True),
    sa.Column('monitor_port', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'], name=op.f('fk_member_loadbalancer_id_load_balancer')),
    sa.ForeignKeyConstraint(['pool_id'], ['pool.id'], name=op.f('fk_member_pool_id_pool')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member')),
    sa.UniqueConstraint('pool_id', 'address', 'protocol_port', name='uq_member_pool_address_port')
    )
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_loadbalancer_id'), ['loadbalancer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_pool_id'), ['pool_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_project_id'), ['project_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_project_id'))
        batch_op.drop_index(batch_op.f('ix_member_pool_id'))
        batch_op.drop_index(batch_op.f('ix_member_loadbalancer_id'))
        batch_op.drop_index(batch_op.f('ix_member_created_at'))

    op.drop_table('member')
    with op.batch_alter_table('ip_allocation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ip_allocation_port_id'))

    op.drop_table('ip_allocation')
    with op.batch_alter_table('health_monitor', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_health_monitor_project_id'))
        batch_op.drop_index(batch_op.f('ix_health_monitor_loadbalancer_id'))
        batch_op.drop_index(batch_op.f('ix_health_monitor_created_at'))

    op.drop_table('health_monitor')
    with op.batch_alter_table('subnet', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subnet_project_id'))
        batch_op.drop_index(batch_op.f('ix_subnet_network_id'))
        batch_op.drop_index(batch_op.f('ix_subnet_created_at'))

    op.drop_table('subnet')
    with op.batch_alter_table('port', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_port_project_id'))
        batch_op.drop_index(batch_op.f('ix_port_network_id'))
        batch_op.drop_index(batch_op.f('ix_port_device_id'))
        batch_op.drop_index(batch_op.f('ix_port_created_at'))

    op.drop_table('port')
    with op.batch_alter_table('pool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pool_project_id'))
        batch_op.drop_index(batch_op.f('ix_pool_loadbalancer_id'))
        batch_op.drop_index(batch_op.f('ix_pool_created_at'))

    op.drop_table('pool')
    with op.batch_alter_table('listener', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_listener_project_id'))
        batch_op.drop_index(batch_op.f('ix_listener_loadbalancer_id'))
        batch_op.drop_index(batch_op.f('ix_listener_created_at'))

    op.drop_table('listener')
    op.drop_table('quota')
    with op.batch_alter_table('network', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_network_project_id'))
        batch_op.drop_index(batch_op.f('ix_network_created_at'))

    op.drop_table('network')
    with op.batch_alter_table('load_balancer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_balancer_project_id'))
        batch_op.drop_index(batch_op.f('ix_load_balancer_created_at'))

    op.drop_table('load_balancer')
    with op.batch_alter_table('listener_statistics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_listener_statistics_loadbalancer_id'))

    op.drop_table('listener_statistics')
