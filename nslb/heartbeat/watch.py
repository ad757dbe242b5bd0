"""Amphorae watched from the moment they exist.

Octavia's health manager creates an amphora's amphora_health row when the first heartbeat
arrives, so an amphora that never sends one (its agent never started, a firewall drops
the datagrams) has no row, is never stale, and is never failed over. Here the row is
inserted in the same flush as the amphora row itself, by a session hook, for every
database a service watches (`watch_new_amphorae`): no code path that creates amphorae
(the API, the worker, a failover's replacements) can forget it, and `last_update` starts
at the creation, so silence is measured from then. Deleting an amphora row deletes its
health row in the same flush.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, event, insert
from sqlalchemy.orm import Session

from nslb.db.engine import Database
from nslb.db.tables import amphora_health
from nslb.model.resources import Amphora

# The connection pools of the databases whose new amphorae are watched (a pool, not the
# engine: write sessions run on an engine with execution options, which shares the pool).
_WATCHED: weakref.WeakSet[Any] = weakref.WeakSet()
_installed = False


def now() -> datetime:
    """Naive UTC like every timestamp in the database, with microseconds: silence is
    measured to the heartbeat interval, not the second."""
    return datetime.now(UTC).replace(tzinfo=None)


def watch_new_amphorae(db: Database) -> None:
    """From now on every amphora inserted through `db` gets its amphora_health row."""
    global _installed
    if not _installed:
        event.listen(Session, "after_flush", _after_flush)
        _installed = True
    _WATCHED.add(db.engine.pool)


def unwatch(db: Database) -> None:
    _WATCHED.discard(db.engine.pool)


def _after_flush(session: Session, _context: Any) -> None:
    new = [o.id for o in session.new if isinstance(o, Amphora)]
    gone = [o.id for o in session.deleted if isinstance(o, Amphora)]
    if not new and not gone:
        return
    connection = session.connection()
    if connection.engine.pool not in _WATCHED:
        return
    if new:
        at = now()
        connection.execute(insert(amphora_health), [
            {"amphora_id": a, "last_update": at, "busy": False, "last_seq": 0} for a in new])
    if gone:
        connection.execute(delete(amphora_health)
                           .where(amphora_health.c.amphora_id.in_(gone)))
