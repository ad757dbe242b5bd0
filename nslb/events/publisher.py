"""The publisher: one thread that sends the outbox to the broker, oldest first.

Nothing in the API, the worker or the health loop waits for it: they only insert rows.
A commit that recorded events rings it; otherwise it looks every `poll` seconds. A batch
is marked delivered only for what the broker acknowledged, and for each LB only up to its
first failure, so an LB's events are never delivered out of order; the rest is sent
again (at least once: a consumer may see an event twice, with the same message_id). While
the broker is unreachable the publisher backs off (1 s doubling to 10 s, besides the 10 s
a send waits for the broker) and the backlog waits in the outbox, bounded by `backlog`
(outbox.prune).

Without a sink (no --notify) events are marked delivered as they come, and kept for
`recent()` until pruned like delivered ones.

Several controllers on one database: only the holder of the "outbox" lease
(db/leases.py) publishes and prunes, so each event is sent by one controller, in order.
Marking a batch delivered re-checks the lease in the same transaction. A relay killed
between a send and its mark leaves the batch undelivered: its successor (after the lease
expires) sends it again, the one case where a consumer sees an event twice (same
message_id), as with any crash of a single controller.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from nslb.db.engine import Database
from nslb.db.leases import Leases, SoloLeases
from nslb.events import outbox
from nslb.events.outbox import Pending

log = logging.getLogger(__name__)
BACKOFF_MAX = 10.0
UNIT = "outbox"  # the lease of the one relay among several controllers


class Sink(Protocol):
    def send(self, batch: list[Pending]) -> set[int]:
        """Deliver the batch in order; the seqs the broker acknowledged."""

    def interrupt(self) -> None:
        """Called from another thread: return from a send that waits for the broker."""

    def close(self) -> None: ...


def accepted(batch: list[Pending], acked: set[int]) -> list[int]:
    """What may be marked delivered: per LB, the acknowledged events before its first
    unacknowledged one (a later one is sent again after it, keeping the LB's order)."""
    blocked: set[str | None] = set()
    out = []
    for item in batch:
        if item.seq in acked and item.loadbalancer_id not in blocked:
            out.append(item.seq)
        else:
            blocked.add(item.loadbalancer_id)
    return out


class Publisher:
    def __init__(self, db: Database, sink: Sink | None, *, batch: int = 500,
                 backlog: int = 100_000, retention: float = 3600.0, poll: float = 1.0,
                 prune_every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 leases: Leases | None = None) -> None:
        self.db = db
        self.leases: Leases = leases or SoloLeases()
        self.sink = sink
        self.batch = batch
        self.backlog = backlog
        self.retention = timedelta(seconds=retention)
        self.poll = poll
        self.prune_every = prune_every
        self.clock = clock
        self.delivered_total = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._undo_bell: Callable[[], None] | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._pruned_at = -prune_every
        self._outage_since: float | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def wake(self) -> None:
        """Events may wait (another controller recorded some)."""
        self._wake.set()

    def start(self) -> None:
        self._undo_bell = outbox.on_new_events(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="nslb-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop sending; what is undelivered stays in the outbox for the next start."""
        self._stop.set()
        self._wake.set()
        if self._undo_bell is not None:
            self._undo_bell()
        if self.sink is not None:
            self.sink.interrupt()  # a broker that does not answer does not hold up a stop
        if self._thread is not None:
            self._thread.join(timeout)
        if self.sink is not None:
            self.sink.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if not self.leases.claim([UNIT]):
                    continue  # another controller relays; we take over if it goes
                if self.clock() >= self._retry_at:
                    self.run_once()
                self._maybe_prune()
            except Exception:  # the database or a bug: keep going, the rows wait
                log.exception("event publishing failed")
                self._failed()

    # --- one round ---------------------------------------------------------------------

    def run_once(self) -> int:
        """Deliver what waits, batch by batch, until it is all out or the broker fails.
        How many events were delivered."""
        total = 0
        while not self._stop.is_set():
            with self.db.read() as session:
                batch = outbox.pending(session, self.batch)
            if not batch:
                break
            done = self._deliver(batch)
            total += done
            if done < len(batch):
                break
        self.delivered_total += total
        return total

    def _maybe_prune(self) -> None:
        if self.clock() - self._pruned_at >= self.prune_every:
            self._pruned_at = self.clock()
            self.prune()

    def _deliver(self, batch: list[Pending]) -> int:
        if self.sink is None:
            return self._mark([p.seq for p in batch])
        try:
            acked = self.sink.send(batch)
        except Exception:  # a client bug or a broken config: treat it as an outage
            log.exception("sending events failed")
            acked = set()
        done = accepted(batch, acked)
        marked = self._mark(done) if done else 0
        self._outcome(len(done), len(batch))
        return marked

    def _mark(self, seqs: list[int]) -> int:
        """Mark events delivered while the relay's lease is ours; how many were."""
        with self.db.write() as session:
            if not self.leases.fence(session, UNIT):
                log.warning("the events relay lease moved to another controller: %d sent "
                            "events left for it to mark", len(seqs))
                return 0
            outbox.delivered(session, seqs)
        return len(seqs)

    def _outcome(self, done: int, sent: int) -> None:
        """Back off while the broker fails; say once when an outage starts and ends."""
        if done == sent:
            if self._outage_since is not None:
                log.warning("event broker reachable again after %.0f s: delivering the "
                            "backlog", self.clock() - self._outage_since)
            self._outage_since, self._backoff, self._retry_at = None, 0.0, 0.0
            return
        if self._outage_since is None:
            self._outage_since = self.clock()
            log.warning("event broker not acknowledging (%d of %d delivered): events wait "
                        "in the outbox, retrying with backoff", done, sent)
        self._failed()

    def _failed(self) -> None:
        self._backoff = min(BACKOFF_MAX, max(1.0, self._backoff * 2))
        self._retry_at = self.clock() + self._backoff

    def prune(self) -> outbox.Pruned:
        with self.db.write() as session:
            return outbox.prune(session, self.retention, self.backlog)
