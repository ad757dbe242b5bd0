"""Octavia's provisioning-status locks, applied inside the API's write transaction.

A change to any object first moves its load balancer (and the affected listeners and
pool) to PENDING_UPDATE. As in Octavia's test_and_set_lb_and_listeners_prov_status, the LB
is the lock: it must be ACTIVE (or ERROR for a delete), else the call answers 409
"Load Balancer <id> is immutable and cannot be updated.". Member and health monitor changes
first require their pool to be ACTIVE ("Pool <id> is immutable ..."). Listeners and the
changed object itself follow the transition table, so an object left in ERROR by a failed
apply can be updated or deleted. Each lock bumps the LB's generation so the worker knows
there is something new to apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from nslb.db import tree
from nslb.lbaas.errors import Immutable, NotFound
from nslb.model.resources import L7Policy, Listener, LoadBalancer, Pool, Resource, utcnow
from nslb.model.status import DELETABLE, MUTABLE, Event, can, transition

DISPLAY = {
    "LoadBalancer": "Load Balancer",
    "Listener": "Listener",
    "Pool": "Pool",
    "Member": "Member",
    "HealthMonitor": "Health Monitor",
    "L7Policy": "L7 Policy",
    "L7Rule": "L7 Rule",
}


def display(obj: Resource | type) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return DISPLAY[cls.__name__]


def _move(obj: Resource, event: Event, allowed: frozenset[str] | None = None) -> None:
    if allowed is None:
        allowed = DELETABLE if event is Event.DELETE else MUTABLE
    if obj.provisioning_status not in allowed:
        raise Immutable(display(obj), obj.id)
    _step(obj, event)


def _step(obj: Resource, event: Event) -> None:
    """Move along the transition table (ERROR may be updated); PENDING_* is refused."""
    if not can(obj.provisioning_status, event):
        raise Immutable(display(obj), obj.id)
    obj.provisioning_status = transition(obj.provisioning_status, event)
    obj.updated_at = utcnow()


def lock_lb(session: Session, lb_id: str, event: Event = Event.UPDATE,
            allowed: frozenset[str] | None = None) -> LoadBalancer:
    """Test-and-set the LB into PENDING_UPDATE (or PENDING_DELETE) and bump its generation.
    `allowed` widens the statuses it may start from (a failover accepts ERROR too)."""
    lb = tree.lock(session, LoadBalancer, lb_id)
    if lb is None:
        raise NotFound.of("Load Balancer", lb_id)
    _move(lb, event, allowed)
    lb.generation += 1
    return lb


def lock_parents(session: Session, lb_id: str, listener_ids: Sequence[str] = (),
                 pool_id: str | None = None) -> LoadBalancer:
    """Check the pool (for member and health monitor changes), then the LB, then the
    listeners a child change affects (Octavia's order). The rows are locked LB first,
    whatever the order of the checks: the worker's settle locks the LB before it writes
    the pool, and on PostgreSQL the opposite order here deadlocked against it."""
    if pool_id is not None:
        tree.lock(session, LoadBalancer, lb_id)
    pool = tree.lock(session, Pool, pool_id) if pool_id is not None else None
    if pool is not None and pool.provisioning_status not in MUTABLE:
        raise Immutable(display(pool), pool.id)
    lb = lock_lb(session, lb_id)
    for lid in listener_ids:
        listener = tree.lock(session, Listener, lid)
        if listener is not None:
            _step(listener, Event.UPDATE)
    if pool is not None:
        _move(pool, Event.UPDATE)
    return lb


def mark(obj: Resource, event: Event) -> None:
    """Move the object itself (PUT -> PENDING_UPDATE, DELETE -> PENDING_DELETE)."""
    _step(obj, event)


def lock_policy_and_parents(session: Session, policy: L7Policy) -> None:
    """An L7 rule change: the policy must be mutable, then the LB, the listener and the
    policy are locked (Octavia's order)."""
    if policy.provisioning_status not in MUTABLE:
        raise Immutable(display(policy), policy.id)
    lock_parents(session, policy.loadbalancer_id, [policy.listener_id])
    mark(policy, Event.UPDATE)


def lock_pool_and_parents(session: Session, pool: Pool) -> None:
    """A member or health monitor change: lock the LB, the pool's listeners and the pool."""
    listener_ids = tree.listeners_using_pool(session, [pool.id]).get(pool.id, [])
    lock_parents(session, pool.loadbalancer_id, listener_ids, pool.id)
