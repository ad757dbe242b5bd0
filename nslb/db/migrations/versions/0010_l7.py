"""l7policy and l7rule: Octavia's L7 policies and rules

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        'l7policy', *_common(),
        sa.Column('listener_id', sa.String(length=36), nullable=False),
        sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
        sa.Column('action', sa.String(length=36), nullable=False),
        sa.Column('redirect_pool_id', sa.String(length=36), nullable=True),
        sa.Column('redirect_url', sa.String(length=255), nullable=True),
        sa.Column('redirect_prefix', sa.String(length=255), nullable=True),
        sa.Column('redirect_http_code', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['listener_id'], ['listener.id'],
                                name=op.f('fk_l7policy_listener_id_listener')),
        sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'],
                                name=op.f('fk_l7policy_loadbalancer_id_load_balancer')),
        sa.ForeignKeyConstraint(['redirect_pool_id'], ['pool.id'],
                                name=op.f('fk_l7policy_redirect_pool_id_pool')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_l7policy')),
    )
    op.create_table(
        'l7rule', *_common(),
        sa.Column('l7policy_id', sa.String(length=36), nullable=False),
        sa.Column('loadbalancer_id', sa.String(length=36), nullable=False),
        sa.Column('type', sa.String(length=36), nullable=False),
        sa.Column('compare_type', sa.String(length=36), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=True),
        sa.Column('value', sa.String(length=255), nullable=False),
        sa.Column('invert', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['l7policy_id'], ['l7policy.id'],
                                name=op.f('fk_l7rule_l7policy_id_l7policy')),
        sa.ForeignKeyConstraint(['loadbalancer_id'], ['load_balancer.id'],
                                name=op.f('fk_l7rule_loadbalancer_id_load_balancer')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_l7rule')),
    )
    for table, columns in (('l7policy', ('project_id', 'created_at', 'listener_id',
                                         'loadbalancer_id')),
                           ('l7rule', ('project_id', 'created_at', 'l7policy_id',
                                       'loadbalancer_id'))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)


def downgrade() -> None:
    op.drop_table('l7rule')
    op.drop_table('l7policy')
