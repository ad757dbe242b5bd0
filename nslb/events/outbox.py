"""The outbox: notifications are rows written in the transaction of the change they tell
about, so a change and its event commit together or not at all (a kill -9 at any line
loses neither). The publisher (events/publisher.py) sends them in `seq` order and marks
them delivered; delivered rows stay a while for `recent()`, then are pruned.

Order per load balancer: `record` only queues the rows on the session; they are inserted
as the transaction's last statements, just before it commits, after a transaction-scoped
advisory lock per LB (PostgreSQL, where sequence values are handed out before commit), so
an LB's events get increasing `seq` values in commit order. Taken last, that lock is never
part of a deadlock: its holder waits for nothing else before it commits (an LB row lock
there would invert the API's pool -> LB order). SQLite has one writer at a time.

Bounded: when more than `backlog` events wait (a broker gone for days), the oldest are
dropped and one `nslb.events.dropped` event tells consumers how many, and from when.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, func, insert, select, text, update
from sqlalchemy.orm import Session

from nslb.db.tables import event_outbox
from nslb.events import envelope
from nslb.events.catalog import Event

log = logging.getLogger(__name__)
PUBLISHER_ID = f"nslb.{socket.gethostname()}"
DROPPED = "nslb.events.dropped"
_NEW = "nslb.events.new"  # session.info flag: this transaction recorded events
_QUEUED = "nslb.events.queued"  # session.info: rows to insert before the commit


def now() -> datetime:
    """Naive UTC with microseconds, as oslo.messaging stamps a notification."""
    return datetime.now(UTC).replace(tzinfo=None)


# --- writing ---------------------------------------------------------------------------


def record(session: Session, events: Iterable[Event]) -> int:
    """Add the events to the caller's transaction (inserted when it commits); how many.
    Their bytes, message ids and timestamps are fixed now."""
    rows = list(events)
    if not rows:
        return 0
    stamp = now()
    values = []
    for e in rows:
        message_id = str(uuid.uuid4())
        message = envelope.Notification(e.event_type, e.payload, e.project_id, stamp,
                                        e.priority, PUBLISHER_ID, message_id).message()
        values.append({"message_id": message_id, "loadbalancer_id": e.loadbalancer_id,
                       "project_id": e.project_id, "generation": e.generation,
                       "event_type": e.event_type, "priority": e.priority,
                       "body": envelope.serialize(message), "created_at": stamp})
    session.info.setdefault(_QUEUED, []).extend(values)
    return len(values)


@event.listens_for(Session, "before_commit")
def _insert_queued(session: Session) -> None:
    """The transaction's last statements: its other writes, the LBs' advisory locks, the
    events. A savepoint's release (begin_nested) is not the commit: they wait for it."""
    if session.in_nested_transaction():
        return
    values = session.info.pop(_QUEUED, None)
    if not values:
        return
    session.flush()
    _lock_lbs(session, {v["loadbalancer_id"] for v in values if v["loadbalancer_id"]})
    session.execute(insert(event_outbox), values)
    session.info[_NEW] = True


def _lock_lbs(session: Session, lb_ids: set[str]) -> None:
    """Hold a transaction-scoped advisory lock per LB until commit (PostgreSQL only)."""
    if not lb_ids or session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(_lock_key(lb_id) for lb_id in lb_ids):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _lock_key(lb_id: str) -> int:
    """A signed 64-bit advisory lock key for an LB's events (a collision only serializes
    two LBs' event writers)."""
    digest = hashlib.sha256(f"nslb.events:{lb_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def started(session: Session, lb_id: str, event_type: str, generation: int) -> bool:
    """Whether an event of this type was recorded for the LB's `generation` (a failover
    start tells the worker that the LB's own update it settles was a failover)."""
    stmt = select(event_outbox.c.seq).where(
        event_outbox.c.loadbalancer_id == lb_id, event_outbox.c.event_type == event_type,
        event_outbox.c.generation == generation).limit(1)
    return session.execute(stmt).first() is not None


# --- waking the publisher after a commit ------------------------------------------------

_bells: list[Callable[[], None]] = []
_bells_lock = threading.Lock()


def on_new_events(bell: Callable[[], None]) -> Callable[[], None]:
    """Call `bell` after every commit that recorded events; returns the undo."""
    with _bells_lock:
        _bells.append(bell)

    def undo() -> None:
        with _bells_lock:
            if bell in _bells:
                _bells.remove(bell)
    return undo


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_NEW, False):
        for bell in list(_bells):
            bell()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint rolled back: the transaction and its events go on
    session.info.pop(_NEW, None)
    session.info.pop(_QUEUED, None)


# --- delivering ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An event waiting for delivery: the Kafka key and value."""

    seq: int
    loadbalancer_id: str | None
    body: str


def pending(session: Session, limit: int) -> list[Pending]:
    """The oldest undelivered events, in `seq` order."""
    stmt = (select(event_outbox.c.seq, event_outbox.c.loadbalancer_id, event_outbox.c.body)
            .where(event_outbox.c.delivered_at.is_(None))
            .order_by(event_outbox.c.seq).limit(limit))
    return [Pending(r.seq, r.loadbalancer_id, r.body) for r in session.execute(stmt)]


def delivered(session: Session, seqs: list[int], at: datetime | None = None) -> None:
    if seqs:
        session.execute(update(event_outbox).where(event_outbox.c.seq.in_(seqs))
                        .values(delivered_at=at or now()))


# --- bounds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    delivered: int = 0
    dropped: int = 0


def prune(session: Session, retention: timedelta, backlog: int,
          at: datetime | None = None) -> Pruned:
    """Delete delivered events older than `retention` (and beyond the newest `backlog`
    delivered ones); drop the oldest undelivered ones beyond `backlog`, leaving an
    `nslb.events.dropped` event in their place."""
    at = at or now()
    gone = _prune_delivered(session, at - retention, backlog)
    waiting = session.scalar(select(func.count()).select_from(event_outbox)
                             .where(event_outbox.c.delivered_at.is_(None))) or 0
    if waiting <= backlog:
        return Pruned(gone, 0)
    excess = waiting - backlog + 1  # room for the event that tells about it
    doomed = (select(event_outbox.c.seq).where(event_outbox.c.delivered_at.is_(None))
              .order_by(event_outbox.c.seq).limit(excess)).subquery()
    first, last, oldest, newest = session.execute(
        select(func.min(event_outbox.c.seq), func.max(event_outbox.c.seq),
               func.min(event_outbox.c.created_at), func.max(event_outbox.c.created_at))
        .where(event_outbox.c.seq.in_(select(doomed.c.seq)))).one()
    session.execute(delete(event_outbox).where(event_outbox.c.seq.in_(select(doomed.c.seq))))
    log.error("event outbox over its bound of %d undelivered events: dropped the %d "
              "oldest (%s to %s); is the broker down?", backlog, excess, oldest, newest)
    record(session, [Event(DROPPED, {"count": excess, "first_seq": first, "last_seq": last,
                                     "oldest": str(oldest), "newest": str(newest)},
                           None, None, priority="ERROR")])
    return Pruned(gone, excess)


def _prune_delivered(session: Session, before: datetime, keep: int) -> int:
    newest_kept = (select(event_outbox.c.seq).where(event_outbox.c.delivered_at.is_not(None))
                   .order_by(event_outbox.c.seq.desc()).offset(keep).limit(1)).scalar_subquery()
    result = session.execute(delete(event_outbox).where(
        event_outbox.c.delivered_at.is_not(None),
        (event_outbox.c.delivered_at < before) | (event_outbox.c.seq <= newest_kept)))
    return int(getattr(result, "rowcount", 0) or 0)


# --- reading ---------------------------------------------------------------------------


def recent(session: Session, project_id: str | None, limit: int = 50,
           loadbalancer_id: str | None = None) -> list[dict[str, Any]]:
    """The newest events of a project (every project's with None), or of one LB, newest
    first, as their consumers see them plus whether they were delivered: for a dashboard."""
    stmt = select(event_outbox).order_by(event_outbox.c.seq.desc()).limit(limit)
    if project_id is not None:
        stmt = stmt.where(event_outbox.c.project_id == project_id)
    if loadbalancer_id is not None:
        stmt = stmt.where(event_outbox.c.loadbalancer_id == loadbalancer_id)
    out = []
    for row in session.execute(stmt):
        message = envelope.deserialize(row.body)
        out.append({"seq": row.seq, "message_id": row.message_id,
                    "event_type": row.event_type, "priority": row.priority,
                    "timestamp": message["timestamp"], "loadbalancer_id": row.loadbalancer_id,
                    "project_id": row.project_id, "payload": message["payload"],
                    "delivered": row.delivered_at is not None})
    return out
