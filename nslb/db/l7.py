"""L7 policies in their positions: 1..N per listener, contiguous, renumbered on every
insert, move and delete (Octavia's ordering_list)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nslb.db.tables import l7policy as policy_table
from nslb.db.tables import l7rule as rule_table
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import L7Policy, L7Rule


def policies_of(session: Session, listener_id: str) -> list[L7Policy]:
    """The listener's policies that are not being deleted, in position order."""
    stmt = (select(L7Policy).where(policy_table.c.listener_id == listener_id,
                                   policy_table.c.provisioning_status != P.PENDING_DELETE)
            .order_by(policy_table.c.position, policy_table.c.created_at))
    return list(session.scalars(stmt))


def place(session: Session, policy: L7Policy, position: int | None) -> None:
    """Put `policy` at `position` (None or beyond the end: last) and renumber the others."""
    others = [p for p in policies_of(session, policy.listener_id) if p.id != policy.id]
    index = len(others) if position is None else min(max(position, 1) - 1, len(others))
    others.insert(index, policy)
    for number, item in enumerate(others, start=1):
        item.position = number


def close_gap(session: Session, listener_id: str, leaving: str) -> None:
    """Renumber the listener's policies without the one being deleted."""
    rest = [p for p in policies_of(session, listener_id) if p.id != leaving]
    for number, item in enumerate(rest, start=1):
        item.position = number


def rules_of(session: Session, policy_id: str) -> list[L7Rule]:
    stmt = (select(L7Rule).where(rule_table.c.l7policy_id == policy_id)
            .order_by(rule_table.c.created_at, rule_table.c.id))
    return list(session.scalars(stmt))


def live_rule_count(session: Session, policy_id: str) -> int:
    stmt = select(func.count()).select_from(rule_table).where(
        rule_table.c.l7policy_id == policy_id,
        rule_table.c.provisioning_status != P.PENDING_DELETE)
    return int(session.scalar(stmt) or 0)


def policies_using_pool(session: Session, pool_id: str) -> list[str]:
    stmt = select(policy_table.c.id).where(
        policy_table.c.redirect_pool_id == pool_id,
        policy_table.c.provisioning_status != P.PENDING_DELETE)
    return list(session.scalars(stmt))
