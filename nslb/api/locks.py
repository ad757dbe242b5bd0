"""Octavia's provisioning-status locks, applied inside the API's write transaction.

A change to any object first moves its load balancer (and the affected listeners and
pool) to PENDING_UPDATE; if one of them is not ACTIVE the call answers 409
"<Resource> <id> is immutable and cannot be updated.". Each lock bumps the LB's
generation so the worker knows there is something new to apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from nslb.api.faults import Immutable, NotFound
from nslb.db import tree
from nslb.model.resources import Listener, LoadBalancer, Pool, Resource, utcnow
from nslb.model.status import DELETABLE, MUTABLE, Event, transition

DISPLAY = {
    "LoadBalancer": "Load Balancer",
    "Listener": "Listener",
    "Pool": "Pool",
    "Member": "Member",
    "HealthMonitor": "Health Monitor",
}


def display(obj: Resource | type) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return DISPLAY[cls.__name__]


def _move(obj: Resource, event: Event) -> None:
    allowed = DELETABLE if event is Event.DELETE else MUTABLE
    if obj.provisioning_status not in allowed:
        raise Immutable(display(obj), obj.id)
    obj.provisioning_status = transition(obj.provisioning_status, event)
    obj.updated_at = utcnow()


def lock_lb(session: Session, lb_id: str, event: Event = Event.UPDATE) -> LoadBalancer:
    """Test-and-set the LB into PENDING_UPDATE (or PENDING_DELETE) and bump its generation."""
    lb = tree.lock(session, LoadBalancer, lb_id)
    if lb is None:
        raise NotFound.of("Load Balancer", lb_id)
    _move(lb, event)
    lb.generation += 1
    return lb


def lock_parents(session: Session, lb_id: str, listener_ids: Sequence[str] = (),
                 pool_id: str | None = None) -> LoadBalancer:
    """Lock the LB, then the listeners and pool a child change affects (Octavia's order)."""
    lb = lock_lb(session, lb_id)
    for lid in listener_ids:
        listener = tree.lock(session, Listener, lid)
        if listener is not None:
            _move(listener, Event.UPDATE)
    if pool_id is not None:
        pool = tree.lock(session, Pool, pool_id)
        if pool is not None:
            _move(pool, Event.UPDATE)
    return lb


def mark(obj: Resource, event: Event) -> None:
    """Move the object itself (PUT -> PENDING_UPDATE, DELETE -> PENDING_DELETE)."""
    _move(obj, event)
