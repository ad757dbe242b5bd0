"""Which notifications a change makes: every event type nslb sends is built here. Pure.

Octavia's notifications go out, as in Octavia, when a change has been applied and its
objects are ACTIVE again (or gone), never for a failed change:
`octavia.<kind>.<create|update|delete>.end` for the seven kinds of Octavia's API
(loadbalancer, listener, pool, member, healthmonitor, l7policy, l7rule). Octavia itself
sends the loadbalancer ones, with octavia-lib's provider dict as payload; nslb sends the
same for every kind, each payload the object's provider dict. A child created or deleted
together with its parent (a tree create, a cascade delete, a listener with its inline L7
policies) is told by its parent's event alone.

The rest is what Octavia never tells anyone, under `nslb.`:

- a failed change: `nslb.<kind>.<create|update|delete>.error` (with the reason);
- operating statuses: `nslb.<kind>.operating_status.change`;
- failover: `nslb.loadbalancer.failover.start|end|error`, `nslb.amphora.create.end` (an
  amphora confirmed serving), `nslb.amphora.delete.end` (a replaced amphora removed),
  `nslb.amphora.failover.stopped` (left alone above the failover threshold),
  `nslb.amphora.create.error` (never built: its load balancer's own change failed);
- `nslb.events.dropped`: the outbox was over its bound and dropped the oldest events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nslb.events import payloads
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import Amphora, LoadBalancer, Resource

ACTION = {P.PENDING_CREATE: "create", P.PENDING_UPDATE: "update", P.PENDING_DELETE: "delete"}
OK = (P.ACTIVE, P.DELETED)
FAILOVER_START = "nslb.loadbalancer.failover.start"
# Operating statuses worth a WARN priority (the rest are INFO).
ALARMING = ("ERROR", "DEGRADED")


@dataclass(frozen=True)
class Event:
    """One notification to record: its type, payload and what it is about."""

    event_type: str
    payload: dict[str, Any]
    loadbalancer_id: str | None
    project_id: str | None
    generation: int | None = None
    priority: str = "INFO"


@dataclass(frozen=True)
class Settled:
    """One object of a change and the provisioning status it moved between."""

    obj: Resource
    before: str
    after: str


def provisioning(lb: LoadBalancer, changed: list[Settled], reason: str | None = None, *,
                 failover: bool = False, flavor_data: str | None = None) -> list[Event]:
    """The events of one settled change. `changed`: the objects that were the change
    (parents only locked for it left out), with the LB when the change was its own;
    `failover`: the LB's own update was a failover; `reason`: why it failed."""
    ids = {(s.obj.id, ACTION[P(s.before)]) for s in changed}
    out = []
    for s in changed:
        action = ACTION[P(s.before)]
        if (payloads.parent_id(s.obj), action) in ids:
            continue  # told by its parent's event
        if isinstance(s.obj, LoadBalancer):
            out.append(_lb_event(lb, action, s.after, reason, failover, flavor_data))
        else:
            out.append(_child_event(lb, s, action, reason))
    return out


def _lb_event(lb: LoadBalancer, action: str, after: str, reason: str | None,
              failover: bool, flavor_data: str | None) -> Event:
    if failover and action == "update":
        action = "failover"
    if P(after) in OK and action != "failover":
        return Event(f"octavia.loadbalancer.{action}.end",
                     payloads.loadbalancer(lb, flavor_data), lb.id, lb.project_id,
                     lb.generation)
    payload = payloads.resource(lb, lb)
    payload["provisioning_status"] = str(after)
    if P(after) in OK:
        return Event(f"nslb.loadbalancer.{action}.end", payload, lb.id, lb.project_id,
                     lb.generation)
    payload["reason"] = payloads.reason(reason)
    return Event(f"nslb.loadbalancer.{action}.error", payload, lb.id, lb.project_id,
                 lb.generation, priority="ERROR")


def _child_event(lb: LoadBalancer, s: Settled, action: str, reason: str | None) -> Event:
    kind = payloads.kind(s.obj)
    if P(s.after) in OK:
        return Event(f"octavia.{kind}.{action}.end", payloads.provider(s.obj), lb.id,
                     lb.project_id, lb.generation)
    payload = payloads.resource(s.obj, lb)
    payload["provisioning_status"] = str(s.after)
    payload["reason"] = payloads.reason(reason)
    return Event(f"nslb.{kind}.{action}.error", payload, lb.id, lb.project_id,
                 lb.generation, priority="ERROR")


def operating(lb: LoadBalancer, objs: list[Resource], new: dict[str, str]) -> list[Event]:
    """`nslb.<kind>.operating_status.change` for each object whose status moved; `objs`
    still hold the previous statuses."""
    out = []
    for obj in objs:
        status = new.get(obj.id)
        if status is None or status == obj.operating_status:
            continue
        payload = payloads.resource(obj, lb)
        payload["operating_status"] = status
        payload["previous_operating_status"] = str(obj.operating_status)
        out.append(Event(f"nslb.{payloads.kind(obj)}.operating_status.change", payload,
                         lb.id, lb.project_id, lb.generation,
                         priority="WARN" if status in ALARMING else "INFO"))
    return out


def failover_start(lb: LoadBalancer, pairs: list[tuple[Amphora, Amphora]],
                   reason: str) -> Event:
    """A failover was asked for: which amphorae are replaced, by which, and why."""
    payload = payloads.resource(lb, lb)
    payload["reason"] = reason
    payload["amphorae"] = [{"id": old.id, "role": old.role, "replacement_id": new.id}
                           for old, new in pairs]
    return Event(FAILOVER_START, payload, lb.id, lb.project_id, lb.generation)


def amphora(amp: Amphora, lb: LoadBalancer | None, what: str, priority: str = "INFO",
            status: str | None = None) -> Event:
    """`nslb.amphora.<what>`: create.end, create.error, delete.end or failover.stopped;
    `status`: the amphora's status when its row is about to go (DELETED)."""
    project = lb.project_id if lb is not None else None
    payload = payloads.amphora(amp, project)
    if status is not None:
        payload["status"] = status
    return Event(f"nslb.amphora.{what}", payload, amp.loadbalancer_id, project,
                 lb.generation if lb is not None else None, priority=priority)
