"""TLS: listener termination fields and pool re-encryption fields

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

def _listener() -> list[sa.Column]:
    return [
        sa.Column('default_tls_container_ref', sa.String(length=255), nullable=True),
        sa.Column('sni_container_refs', sa.Text(), nullable=False, server_default='[]'),
        sa.Column('client_ca_tls_container_ref', sa.String(length=255), nullable=True),
        sa.Column('client_authentication', sa.String(length=16), nullable=False,
                  server_default='NONE'),
        sa.Column('client_crl_container_ref', sa.String(length=255), nullable=True),
        sa.Column('tls_ciphers', sa.String(length=2048), nullable=True),
        sa.Column('tls_versions', sa.Text(), nullable=True),
        sa.Column('alpn_protocols', sa.Text(), nullable=True),
        sa.Column('hsts_max_age', sa.Integer(), nullable=True),
        sa.Column('hsts_include_subdomains', sa.Boolean(), nullable=False,
                  server_default=sa.false()),
        sa.Column('hsts_preload', sa.Boolean(), nullable=False, server_default=sa.false()),
    ]


def _pool() -> list[sa.Column]:
    return [
        sa.Column('tls_container_ref', sa.String(length=255), nullable=True),
        sa.Column('ca_tls_container_ref', sa.String(length=255), nullable=True),
        sa.Column('crl_container_ref', sa.String(length=255), nullable=True),
        sa.Column('tls_ciphers', sa.String(length=2048), nullable=True),
        sa.Column('tls_versions', sa.Text(), nullable=True),
        sa.Column('alpn_protocols', sa.Text(), nullable=True),
    ]


# Filled in for existing rows, then left to the application (the metadata has no server
# defaults, like every other column).
DEFAULTED = {'listener': ('sni_container_refs', 'client_authentication',
                          'hsts_include_subdomains', 'hsts_preload')}


def upgrade() -> None:
    for table, columns in (('listener', _listener()), ('pool', _pool())):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.add_column(column)
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in DEFAULTED.get(table, ()):
                batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    for table, columns in (('pool', _pool()), ('listener', _listener())):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in reversed(columns):
                batch_op.drop_column(column.name)
