"""The health loop's view of amphorae watched through heartbeats (amphorae on other hosts).

For such an amphora (one with an amphora_health row, nslb/heartbeat/watch.py) the loop
does not call the driver's observe(): its observation is its latest heartbeat
(nslb/heartbeat/observation.py), and everything after (statuses, counters, metrics,
repair, failover) is the code every amphora goes through.

Silence: an amphora is silent when nothing was heard from it for `timeout` seconds,
counted from the latest of its stored `last_update` (written by whichever controller
received its heartbeat; its creation until a first heartbeat), the heartbeat this process
holds, and the moment this process first watched it (a controller that just started gives
every amphora a full timeout before judging it). A silent amphora reads as not running, so
the loop asks for its repair, and it is stale for failover at once: the timeout was its
wait (autofailover.plan, with Octavia's threshold: a whole host going silent at once is
more than `failover_threshold` stale amphorae and stops at FAILOVER_STOPPED, no storm).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

from nslb.amphora.base import Observation
from nslb.db.engine import Database
from nslb.db.tables import amphora_health
from nslb.heartbeat.observation import observation_of
from nslb.heartbeat.store import HeartbeatStore, Received, as_wall

DEFAULT_TIMEOUT = 10.0


class HeartbeatWatch:
    def __init__(self, db: Database, store: HeartbeatStore, timeout: float = DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock`: wall-clock seconds (heartbeat times are wall-clock times)."""
        self.db = db
        self.store = store
        self.timeout = timeout
        self.clock = clock
        self.last_update: dict[str, float] = {}
        self.silent: set[str] = set()
        self._first_seen: dict[str, float] = {}
        # amphora id -> (seq, the observation made of that heartbeat): made once per
        # heartbeat, not once per round
        self._observations: dict[str, tuple[int, Observation]] = {}

    def read(self) -> set[str]:
        """Read the watched amphorae and when each was last heard of (once per round: a
        single indexed scan of amphora_health). Returns the ids."""
        with self.db.read() as session:
            rows = session.execute(select(amphora_health.c.amphora_id,
                                          amphora_health.c.last_update)).all()
        now = self.clock()
        self.last_update = {r.amphora_id: as_wall(r.last_update) for r in rows}
        for amphora_id in self.last_update:
            self._first_seen.setdefault(amphora_id, now)
        for gone in set(self._first_seen) - set(self.last_update):
            del self._first_seen[gone]
            self._observations.pop(gone, None)
        self.silent &= set(self.last_update)
        return set(self.last_update)

    def watches(self, amphora_id: str) -> bool:
        return amphora_id in self.last_update

    def _silent(self, amphora_id: str, received: Received | None) -> bool:
        heard = max(self.last_update.get(amphora_id, 0.0),
                    self._first_seen.get(amphora_id, 0.0),
                    received.at if received is not None else 0.0)
        return self.clock() - heard > self.timeout

    def token(self, amphora_id: str) -> int | None:
        """What the health loop compares between rounds (as the namespace driver's
        `liveness()`): the seq of the latest heartbeat, None when there is none or the
        amphora is silent, so it is looked at every round until it speaks."""
        received = self.store.latest(amphora_id)
        if received is None or self._silent(amphora_id, received):
            return None
        return received.heartbeat.seq

    def observe(self, amphora_id: str) -> Observation | None:
        """The amphora's latest heartbeat as an observation; not running when it is silent;
        None while it has not been heard of by this process but is not silent yet."""
        received = self.store.latest(amphora_id)
        if self._silent(amphora_id, received):
            self.silent.add(amphora_id)
            return Observation(running=False)
        self.silent.discard(amphora_id)
        if received is None:
            return None
        cached = self._observations.get(amphora_id)
        if cached is None or cached[0] != received.heartbeat.seq:
            cached = (received.heartbeat.seq, observation_of(received.heartbeat))
            self._observations[amphora_id] = cached
        return cached[1]
