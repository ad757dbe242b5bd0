"""floating ips (reserved: filled in by the work that needs it; a no-op until then)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
