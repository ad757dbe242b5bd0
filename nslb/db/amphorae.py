"""Amphora rows: the data-plane copies of each load balancer."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nslb.db.tables import amphora as amphora_table
from nslb.db.tables import vrrp_group
from nslb.events import catalog, outbox
from nslb.model.enums import AmphoraStatus
from nslb.model.resources import Amphora, LoadBalancer, utcnow
from nslb.model.status import FAILOVER_FROM, Event, transition

# Amphorae whose data plane exists or is wanted: being built, serving, in ERROR, held back
# from automatic failover, or being replaced (a PENDING_DELETE amphora serves until its
# replacement is up and it is removed).
LIVE = (AmphoraStatus.PENDING_CREATE, AmphoraStatus.BOOTING, AmphoraStatus.ALLOCATED,
        AmphoraStatus.ERROR, AmphoraStatus.FAILOVER_STOPPED, AmphoraStatus.PENDING_DELETE)


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


def lock_for_failover(session: Session, lb_id: str) -> LoadBalancer | None:
    """Move the LB to PENDING_UPDATE for a failover, as the API's lock does, if its status
    allows one (ACTIVE or ERROR); None when it does not (or the LB is gone)."""
    lb = session.get(LoadBalancer, lb_id, with_for_update=True)
    if lb is None or lb.provisioning_status not in FAILOVER_FROM:
        return None
    lb.provisioning_status = transition(lb.provisioning_status, Event.UPDATE)
    lb.updated_at = utcnow()
    lb.generation += 1
    return lb


def request_failover(session: Session, doomed: list[Amphora],
                     reason: str = "requested through the API") -> list[Amphora]:
    """Record that `doomed` are to be replaced: each goes to PENDING_DELETE and gets a
    replacement row with its role and priority. The worker builds the replacements and
    removes the old ones (nslb.worker.failover); the caller locks the load balancer.
    Records `nslb.loadbalancer.failover.start` in the same transaction: it also tells the
    worker, when it settles the LB, that this update was a failover."""
    now = utcnow()
    new = []
    for old in doomed:
        old.status, old.updated_at = AmphoraStatus.PENDING_DELETE, now
        new.append(Amphora(loadbalancer_id=old.loadbalancer_id, role=old.role,
                           vrrp_priority=old.vrrp_priority, ha_ip=old.ha_ip,
                           ha_port_id=old.ha_port_id, status=AmphoraStatus.PENDING_CREATE))
    session.add_all(new)
    session.flush()
    lb_id = doomed[0].loadbalancer_id if doomed else None
    lb = session.get(LoadBalancer, lb_id) if lb_id else None
    if lb is not None:
        outbox.record(session, [catalog.failover_start(lb, list(zip(doomed, new, strict=True)),
                                                       reason)])
    return new


class NoFreeVrid(RuntimeError):
    """Every VRRP router id (1-255) of the VIP network is taken by another pair."""


def vrid_of(session: Session, lb_id: str) -> int | None:
    stmt = select(vrrp_group.c.vrrp_id).where(vrrp_group.c.loadbalancer_id == lb_id)
    return session.scalar(stmt)


def allocate_vrid(session: Session, network_id: str, lb_id: str) -> int:
    """The LB's VRRP router id on its VIP network, the lowest free one if it has none yet.
    Two writers that pick the same id collide on the primary key; the loser tries the next."""
    existing = vrid_of(session, lb_id)
    if existing is not None:
        return existing
    taken = set(session.scalars(select(vrrp_group.c.vrrp_id)
                                .where(vrrp_group.c.network_id == network_id)))
    for vrid in range(1, 256):
        if vrid in taken:
            continue
        try:
            with session.begin_nested():
                session.execute(insert(vrrp_group).values(
                    network_id=network_id, vrrp_id=vrid, loadbalancer_id=lb_id))
            return vrid
        except IntegrityError:
            continue
    raise NoFreeVrid(f"no free VRRP router id on network {network_id}")


def release_vrid(session: Session, lb_id: str) -> None:
    session.execute(delete(vrrp_group).where(vrrp_group.c.loadbalancer_id == lb_id))
