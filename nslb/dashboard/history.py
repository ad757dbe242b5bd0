"""An LB's recent events for its page, read from the events outbox (nslb/events/outbox.py).

The outbox holds every notification a change made, written in the change's own
transaction, so the page shows what happened even before this process started and what
another controller did: provisioning ends and failures, operating-status changes,
failovers and amphora lifecycle. Delivered events stay for `--events-retention` seconds.
Amphora events (their ids and roles) are shown only to viewers the policy lets read
amphorae. Each event becomes one line of plain text; the template escapes it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from nslb.db.tree import Tree
from nslb.events import outbox

KINDS = {"loadbalancer": "load balancer", "listener": "listener", "pool": "pool",
         "member": "member", "healthmonitor": "health monitor", "l7policy": "L7 policy",
         "l7rule": "L7 rule"}
DONE = {"create": "created", "update": "updated", "delete": "deleted",
        "failover": "failed over"}


def _epoch(stamp: str) -> float:
    """The envelope's timestamp (str() of a naive UTC datetime) as epoch seconds."""
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()


def _name(payload: dict[str, Any], kind: str, labels: dict[str, str]) -> str:
    """The object as the page names it now if it still exists, else as the event did."""
    obj_id = payload.get(f"{kind}_id") or payload.get("id") or ""
    return labels.get(obj_id) or payload.get("name") or str(obj_id)[:8]


def _amphora_text(what: str, payload: dict[str, Any]) -> str:
    role = payload.get("role") or "no role"
    told = {"create.end": "created", "delete.end": "deleted",
            "create.error": "not built (ERROR)",
            "failover.stopped": "not failed over: too many stale at once"}.get(what, what)
    return f"amphora {str(payload.get('id', ''))[:8]} ({role}) {told}"


def describe(event_type: str, payload: dict[str, Any],
             labels: dict[str, str]) -> tuple[str, str] | None:
    """(kind of line, text) for one event; None for an event the page does not show."""
    source, _, rest = event_type.partition(".")
    kind, _, what = rest.partition(".")
    if kind == "amphora":
        return "amphora", _amphora_text(what, payload)
    if kind not in KINDS:
        return None
    name = f"{KINDS[kind]} {_name(payload, kind, labels)}"
    if what == "operating_status.change":
        return "operating", (f"{name}: {payload.get('previous_operating_status')} "
                             f"\u2192 {payload.get('operating_status')}")
    if what == "failover.start":
        return "provisioning", f"{name}: failover started ({payload.get('reason')})"
    action, _, end = what.partition(".")
    done = DONE.get(action, action)
    if end == "error":
        return "provisioning", (f"{name}: {action} failed, "
                                f"{payload.get('provisioning_status')} "
                                f"({payload.get('reason') or 'no reason given'})")
    if source == "octavia" or end == "end":
        return "provisioning", f"{name} {done}"
    return None


def recent(session: Session, t: Tree, labels: dict[str, str], with_amphorae: bool,
           limit: int) -> list[dict[str, Any]]:
    """The LB's newest events first, as {at, kind, text}; `labels`: object id -> label."""
    found = []
    for event in outbox.recent(session, None, limit=limit, loadbalancer_id=t.lb.id):
        line = describe(event["event_type"], event["payload"], labels)
        if line is None or (line[0] == "amphora" and not with_amphorae):
            continue
        found.append({"at": _epoch(event["timestamp"]), "kind": line[0], "text": line[1]})
    return found
