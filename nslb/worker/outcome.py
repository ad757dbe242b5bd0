"""Record what the driver did: statuses move on, deleted objects leave the database."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db import amphorae, floating, ports, stats
from nslb.db import flavors as flavor_repo
from nslb.db.lb_ports import vip_port_name
from nslb.db.tables import amphora as amphora_table
from nslb.db.tree import Tree, load_tree
from nslb.events import catalog, outbox
from nslb.events.catalog import Settled
from nslb.model.enums import AmphoraStatus
from nslb.model.enums import OperatingStatus as O
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import (
    Amphora,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Resource,
    utcnow,
)
from nslb.model.status import PENDING, Event, transition
from nslb.worker import amphorae as amphora_prep

log = logging.getLogger(__name__)


def _drop(session: Session, objs: list[object]) -> None:
    stats.forget(session, [o.id for o in objs if isinstance(o, Listener)])
    for obj in objs:  # callers pass children first; flush each so FKs always hold
        session.delete(obj)
        session.flush()


# How deep an object sits below its load balancer. A PENDING_UPDATE object above the
# deepest pending one was only locked for that child's change (lbaas/locks.py).
DEPTH: dict[type, int] = {Listener: 1, Pool: 2, Member: 3, HealthMonitor: 3, L7Policy: 2,
                          L7Rule: 3}


def settle(t: Tree, failed: bool) -> dict[str, P]:
    """The next provisioning status of every pending object of the tree (DELETED: remove
    the row), decided in one pass from the statuses as the apply found them.

    The LB is the lock, so one generation holds one API change: the deepest pending objects
    are the change, and a shallower object in PENDING_UPDATE is a parent locked for it.
    After a failure only the change goes to ERROR; locked parents return to ACTIVE
    (Octavia's *ToErrorOnRevert tasks). The LB itself fails only when its own change or its
    creation failed.
    """
    pending = [c for c in t.children() if c.provisioning_status in PENDING]
    deepest = max((DEPTH[type(c)] for c in pending), default=0)
    out: dict[str, P] = {}
    for child in pending:
        locked = (child.provisioning_status == P.PENDING_UPDATE
                  and DEPTH[type(child)] < deepest)
        event = Event.FAIL if failed and not locked else Event.SUCCEED
        out[child.id] = transition(child.provisioning_status, event)
    lb = t.lb
    if lb.provisioning_status in PENDING:
        own = failed and (lb.provisioning_status == P.PENDING_CREATE or not pending)
        out[lb.id] = transition(lb.provisioning_status, Event.FAIL if own else Event.SUCCEED)
    return out


def the_change(t: Tree, plan: dict[str, P]) -> list[Settled]:
    """The objects a settled plan was about, with the statuses they move between: the
    pending ones, less parents only locked for a child's change (as settle() tells them
    apart), the LB first when the change was its own. Read before the plan is applied."""
    pending = [c for c in t.children() if c.provisioning_status in PENDING]
    deepest = max((DEPTH[type(c)] for c in pending), default=0)
    out = [Settled(c, c.provisioning_status, plan[c.id]) for c in pending
           if c.id in plan and not (c.provisioning_status == P.PENDING_UPDATE
                                    and DEPTH[type(c)] < deepest)]
    lb = t.lb
    if lb.id in plan and (lb.provisioning_status == P.PENDING_CREATE or not pending):
        out.insert(0, Settled(lb, lb.provisioning_status, plan[lb.id]))
    return out


def _events(session: Session, lb: LoadBalancer, changed: list[Settled],
            error: str | None) -> None:
    """Record the notifications of a settled change, in its transaction."""
    if not changed:
        return
    own = changed[0].obj is lb
    failover = own and changed[0].before == P.PENDING_UPDATE and outbox.started(
        session, lb.id, catalog.FAILOVER_START, lb.generation)
    flavor_data = None
    if own and lb.flavor_id:
        flavor = flavor_repo.get(session, lb.flavor_id)
        profile = flavor_repo.profile(session, flavor.flavor_profile_id) if flavor else None
        flavor_data = profile.flavor_data if profile else None
    outbox.record(session, catalog.provisioning(lb, changed, error, failover=failover,
                                                flavor_data=flavor_data))


def set_status(obj: Resource, status: P, now: datetime) -> None:
    """Record a settled provisioning status; a change stamps updated_at with `now`, as
    Octavia's rows do on every status write (a converged resync, ACTIVE -> ACTIVE, changes
    nothing)."""
    if obj.provisioning_status != status:
        obj.updated_at = now
    obj.provisioning_status = status


def monitor_status(hm: HealthMonitor, t: Tree) -> O:
    """A monitor that went ACTIVE is ONLINE when it watches (it and its pool enabled),
    else OFFLINE, as Octavia's MarkHealthMonitorActiveInDB writes it; the health loop
    corrects it from what haproxy reports, by the same rule (health/derive.py)."""
    pool = next((p for p in t.pools if p.id == hm.pool_id), None)
    watching = hm.admin_state_up and pool is not None and pool.admin_state_up
    return O.ONLINE if watching else O.OFFLINE


def _monitor_settled(hm: HealthMonitor, t: Tree, now: datetime) -> None:
    status = monitor_status(hm, t)
    if hm.operating_status != status:
        hm.operating_status, hm.updated_at = status, now


def _record_amphorae(session: Session, lb: LoadBalancer, generation: int,
                     confirmed: dict[str, str], host: str, now: datetime) -> None:
    """What each amphora's data plane confirmed; a first confirmation makes it ALLOCATED."""
    for amphora in amphorae.of_lb(session, lb.id):
        digest = confirmed.get(amphora.id)
        if digest is None:
            continue
        amphora.applied_generation, amphora.applied_hash = generation, digest
        amphora.compute_id = amphora.compute_id or host
        if amphora.status in (AmphoraStatus.PENDING_CREATE, AmphoraStatus.BOOTING):
            amphora.status = AmphoraStatus.ALLOCATED
            amphora.updated_at = now
            outbox.record(session, [catalog.amphora(amphora, lb, "create.end")])


def _unbuilt_to_error(session: Session, lb: LoadBalancer, now: datetime) -> None:
    """The LB's own change failed (its create, or a failover's): its amphorae that were
    never built (still PENDING_CREATE or BOOTING: no placement, or no data plane took
    their bundle) go to ERROR, as Octavia's reverted create leaves them, instead of
    looking like work still in progress. An ERROR amphora is never failed over on its
    own; a failover or delete of the LB replaces or removes it."""
    for amphora in amphorae.of_lb(session, lb.id):
        if amphora.status in (AmphoraStatus.PENDING_CREATE, AmphoraStatus.BOOTING):
            amphora.status = AmphoraStatus.ERROR
            amphora.updated_at = now
            outbox.record(session, [catalog.amphora(amphora, lb, "create.error",
                                                    priority="ERROR")])


def retired(session: Session, amphora_id: str) -> None:
    """An amphora that failover replaced is gone from the data plane: drop its row and
    release what it held."""
    lb_id = session.scalar(select(amphora_table.c.loadbalancer_id)
                           .where(amphora_table.c.id == amphora_id))
    # The LB first (for its project and generation), then the row: the API's failover
    # locks them in that order too.
    lb = session.get(LoadBalancer, lb_id, with_for_update=True) if lb_id else None
    amphora = session.get(Amphora, amphora_id, with_for_update=True)
    if amphora is None:
        return
    outbox.record(session, [catalog.amphora(amphora, lb, "delete.end", status="DELETED")])
    amphora_prep.release(session, amphora)
    session.delete(amphora)
    session.flush()


def applied(session: Session, lb_id: str, generation: int, error: str | None,
            confirmed: dict[str, str] | None = None, host: str | None = None,
            now: datetime | None = None) -> bool:
    """Settle statuses after an apply of `generation`. False when the LB moved on meanwhile.
    `confirmed`: amphora id -> the bundle hash its data plane confirmed (on `host`); `now`
    stamps updated_at of what changed (default: the wall clock)."""
    now = now or utcnow()
    lb = session.get(LoadBalancer, lb_id, with_for_update=True)
    if lb is None:
        return False
    _record_amphorae(session, lb, generation, confirmed or {}, host or "", now)
    if lb.generation != generation or lb.provisioning_status == P.PENDING_DELETE:
        return False  # moved on meanwhile; a deleting LB is settled by deleted() only
    t = load_tree(session, lb)
    plan = settle(t, error is not None)
    changed = the_change(t, plan)
    # Deepest first, so foreign keys never point at a removed row.
    gone: list[object] = [c for c in (*t.l7rules, *t.l7policies, *t.members, *t.healthmonitors,
                                      *t.listeners, *t.pools)
                          if plan.get(c.id) == P.DELETED]
    for obj in t.everything():
        status = plan.get(obj.id)
        if status is not None and status != P.DELETED:
            set_status(obj, status, now)
            if isinstance(obj, HealthMonitor) and status == P.ACTIVE:
                _monitor_settled(obj, t, now)
    lb.applied_generation = generation
    if plan.get(lb.id) == P.ERROR:
        _unbuilt_to_error(session, lb, now)
    _events(session, lb, changed, error)
    _drop(session, gone)
    if error is None:
        kept = [m for m in t.members if m not in gone]
        _release_unused_member_ports(session, lb, kept)
        amphora_prep.release_unused_member_ports(session, lb, kept)
    return True


def _release_unused_member_ports(session: Session, lb: LoadBalancer,
                                 members: list[Member]) -> None:
    used = {m.subnet_id for m in members if m.subnet_id}
    for port in ports.member_ports(session, lb.id, lb.project_id):
        if port.fixed_ips[0]["subnet_id"] not in used:
            ports.release_port(session, port.id)


def deleted(session: Session, lb_id: str, error: str | None,
            now: datetime | None = None) -> None:
    """After driver.delete(): remove the LB and everything it owned, or mark it ERROR
    (stamped `now`, default: the wall clock)."""
    lb = session.get(LoadBalancer, lb_id, with_for_update=True)
    if lb is None or lb.provisioning_status != P.PENDING_DELETE:
        return
    t = load_tree(session, lb)
    if error is not None:
        # The whole delete failed: the LB and the children it was removing go to ERROR
        # (each may be deleted again), and this generation counts as settled so the
        # worker does not rebuild what the user asked to remove.
        changed = [Settled(o, o.provisioning_status, transition(o.provisioning_status,
                                                                 Event.FAIL))
                   for o in t.everything() if o.provisioning_status == P.PENDING_DELETE]
        stamp = now or utcnow()
        for s in changed:
            set_status(s.obj, P(s.after), stamp)
        lb.applied_generation = lb.generation
        _events(session, lb, changed, error)
        return
    _events(session, lb, [Settled(lb, lb.provisioning_status, P.DELETED)], None)
    doomed = amphorae.of_lb(session, lb.id, live_only=False)
    for amphora in doomed:
        amphora_prep.release(session, amphora)
    amphorae.release_vrid(session, lb.id)
    _drop(session, [*t.l7rules, *t.l7policies, *t.members, *t.healthmonitors, *t.listeners,
                    *t.pools, *doomed])
    for port in ports.member_ports(session, lb.id, lb.project_id):
        ports.release_port(session, port.id)
    vip = ports.get_port(session, lb.vip_port_id)
    if vip is not None:
        # Neutron disassociates a floating IP in the transaction that deletes its port
        floating.disassociate_port(session, vip.id)
        if vip.name == vip_port_name(lb.id):
            ports.release_port(session, vip.id)
        else:  # a port the user brought: hand it back
            vip.device_owner, vip.device_id = "", ""
    session.delete(lb)
