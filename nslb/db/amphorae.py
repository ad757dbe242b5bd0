"""Amphora rows: the data-plane copies of each load balancer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db.tables import amphora as amphora_table
from nslb.model.enums import AmphoraStatus
from nslb.model.resources import Amphora

# Amphorae that are (or are about to be) serving their load balancer.
LIVE = (AmphoraStatus.PENDING_CREATE, AmphoraStatus.BOOTING, AmphoraStatus.ALLOCATED,
        AmphoraStatus.ERROR)


def of_lb(session: Session, lb_id: str, live_only: bool = True) -> list[Amphora]:
    """The LB's amphorae, oldest first (live ones only, unless asked)."""
    stmt = select(Amphora).where(amphora_table.c.loadbalancer_id == lb_id)
    if live_only:
        stmt = stmt.where(amphora_table.c.status.in_([s.value for s in LIVE]))
    stmt = stmt.order_by(amphora_table.c.created_at, amphora_table.c.id)
    return list(session.scalars(stmt))


def live_ids(session: Session) -> set[str]:
    """Ids of every amphora that may have data plane on a host."""
    stmt = select(amphora_table.c.id).where(amphora_table.c.status != AmphoraStatus.DELETED)
    return set(session.scalars(stmt))
