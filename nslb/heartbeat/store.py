"""Where accepted heartbeats go: the latest one per amphora in memory, for the health loop,
and the amphora_health rows, written once per round.

A heartbeat per amphora per second is 10,000 rows a second on a big installation; one
transaction per datagram would be the bottleneck (and on SQLite, the one writer). The
receiver coalesces (only an amphora's newest heartbeat of a round is kept) and hands a
batch here once per round; executemany UPDATEs write it, CHUNK rows per transaction.
The UPDATE only moves a row forward (`last_seq < :seq`), so two controllers that both
receive an amphora's heartbeats (or a slow batch behind a fast one) never move it back.
These writes are not counted as writes (Database.write(quiet=True)): nothing the
health loop or the planner keeps between rounds is read from amphora_health.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, select, update

from nslb.db.engine import Database
from nslb.db.tables import amphora_health
from nslb.heartbeat.envelope import Heartbeat

# Rows per write transaction: on SQLite the writer is one per process (and per file), and
# the API's writes wait behind a batch; a thousand rows hold it a few tens of ms.
CHUNK = 1000


@dataclass(frozen=True)
class Received:
    heartbeat: Heartbeat
    at: float  # the receiver's wall clock (time.time()) when it arrived


def as_datetime(wall: float) -> datetime:
    """A wall-clock time as the naive UTC datetime the database holds."""
    return datetime.fromtimestamp(wall, UTC).replace(tzinfo=None)


def as_wall(value: datetime) -> float:
    return value.replace(tzinfo=UTC).timestamp()


class HeartbeatStore:
    """The receiver's sink; read by the health loop (nslb/health/heartbeats.py)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._latest: dict[str, Received] = {}

    def watched(self) -> dict[str, int]:
        """amphora id -> last seq stored, for every amphora watched through heartbeats."""
        with self.db.read() as session:
            rows = session.execute(select(amphora_health.c.amphora_id,
                                          amphora_health.c.last_seq))
            return {r.amphora_id: r.last_seq for r in rows}

    def store(self, batch: dict[str, Received]) -> None:
        """Keep the batch's heartbeats as the latest and write their rows."""
        if not batch:
            return
        with self._lock:
            for amphora_id, received in batch.items():
                known = self._latest.get(amphora_id)
                if known is None or known.heartbeat.seq < received.heartbeat.seq:
                    self._latest[amphora_id] = received
        params = [{"row_id": a, "at": as_datetime(r.at), "seq": r.heartbeat.seq}
                  for a, r in batch.items()]
        stmt = (update(amphora_health)
                .where(and_(amphora_health.c.amphora_id == bindparam("row_id"),
                            amphora_health.c.last_seq < bindparam("seq")))
                .values(last_update=bindparam("at"), last_seq=bindparam("seq")))
        for start in range(0, len(params), CHUNK):  # never hold SQLite's writer long
            with self.db.write(quiet=True) as session:
                session.execute(stmt, params[start:start + CHUNK])

    def latest(self, amphora_id: str) -> Received | None:
        with self._lock:
            return self._latest.get(amphora_id)

    def retain(self, amphora_ids: set[str]) -> None:
        """Forget amphorae no longer watched."""
        with self._lock:
            for gone in set(self._latest) - amphora_ids:
                del self._latest[gone]
