"""Record what the driver did: statuses move on, deleted objects leave the database."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from nslb.db import ports, stats
from nslb.db.lb_ports import MEMBER_OWNER, ports_of_device, vip_port_name
from nslb.db.tree import Tree, load_tree
from nslb.model.resources import Listener, LoadBalancer, Member, Pool
from nslb.model.status import PENDING, Event, transition

log = logging.getLogger(__name__)


def _drop(session: Session, objs: list[object]) -> None:
    stats.forget(session, [o.id for o in objs if isinstance(o, Listener)])
    for obj in objs:  # callers pass children first; flush each so FKs always hold
        session.delete(obj)
        session.flush()


def applied(session: Session, lb_id: str, generation: int, error: str | None) -> bool:
    """Settle statuses after an apply of `generation`. False when the LB moved on meanwhile."""
    lb = session.get(LoadBalancer, lb_id, with_for_update=True)
    if lb is None or lb.generation != generation or lb.provisioning_status == "PENDING_DELETE":
        return False  # moved on meanwhile; a deleting LB is settled by deleted() only
    t = load_tree(session, lb)
    children = t.children()
    pending_children = [c for c in children if c.provisioning_status in PENDING]
    event = Event.FAIL if error else Event.SUCCEED
    gone: list[object] = []
    # Deepest first, so foreign keys never point at a removed row.
    for child in [*t.members, *t.healthmonitors, *t.listeners, *t.pools]:
        if child.provisioning_status not in PENDING:
            continue
        if child.provisioning_status == "PENDING_DELETE" and not error:
            gone.append(child)
        elif error and _only_locked(child, t):
            # A parent locked for a child's change goes back to ACTIVE; only the object
            # that was changed goes to ERROR (Octavia's *ToErrorOnRevert tasks).
            child.provisioning_status = transition(child.provisioning_status, Event.SUCCEED)
        else:
            child.provisioning_status = transition(child.provisioning_status, event)
    if lb.provisioning_status in PENDING:
        own_failure = error and (lb.provisioning_status == "PENDING_CREATE"
                                 or not pending_children)
        lb.provisioning_status = transition(lb.provisioning_status,
                                            Event.FAIL if own_failure else Event.SUCCEED)
    lb.applied_generation = generation
    _drop(session, gone)
    if not error:
        _release_unused_member_ports(session, lb, [m for m in t.members if m not in gone])
    return True


def _below(obj: object, t: Tree) -> list[Any]:
    """The objects whose changes lock `obj` as a parent (its pool, members and monitor)."""
    if isinstance(obj, Pool):
        return [*(m for m in t.members if m.pool_id == obj.id),
                *(h for h in t.healthmonitors if h.pool_id == obj.id)]
    if isinstance(obj, Listener):
        pool = next((p for p in t.pools if p.id == obj.default_pool_id), None)
        return [pool, *_below(pool, t)] if pool is not None else []
    return []


def _only_locked(obj: Any, t: Tree) -> bool:
    """True for a PENDING_UPDATE parent whose pending state comes from a child's change."""
    return obj.provisioning_status == "PENDING_UPDATE" and any(
        c.provisioning_status in PENDING for c in _below(obj, t))


def _release_unused_member_ports(session: Session, lb: LoadBalancer,
                                 members: list[Member]) -> None:
    used = {m.subnet_id for m in members if m.subnet_id}
    for port in ports_of_device(session, lb.id, MEMBER_OWNER):
        if port.fixed_ips[0]["subnet_id"] not in used:
            ports.release_port(session, port.id)


def deleted(session: Session, lb_id: str, error: str | None) -> None:
    """After driver.delete(): remove the LB and everything it owned, or mark it ERROR."""
    lb = session.get(LoadBalancer, lb_id, with_for_update=True)
    if lb is None or lb.provisioning_status != "PENDING_DELETE":
        return
    if error:
        lb.provisioning_status = transition(lb.provisioning_status, Event.FAIL)
        return
    t = load_tree(session, lb)
    _drop(session, [*t.members, *t.healthmonitors, *t.listeners, *t.pools])
    for port in ports_of_device(session, lb.id, MEMBER_OWNER):
        ports.release_port(session, port.id)
    vip = ports.get_port(session, lb.vip_port_id)
    if vip is not None:
        if vip.name == vip_port_name(lb.id):
            ports.release_port(session, vip.id)
        else:  # a port the user brought: hand it back
            vip.device_owner, vip.device_id = "", ""
    session.delete(lb)
