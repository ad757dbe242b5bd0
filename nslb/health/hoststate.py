"""Hosts of `--agents remote` as a whole: their UP/DOWN from heartbeats, the deletes
deferred to a host's return, and drains. One round a second in its own thread.

State: with heartbeats on (`store`: the receiver's), a host is UP while anything of it
was heard within `timeout` (the stored `last_update`, or the arrival this process holds
in memory, up to a flush interval fresher): one of its amphorae, or the agent's own host
heartbeat (the agent sends one with the host's id, so a host without amphorae is seen
too; its amphora_health row is inserted here). Heard counts from the latest of those, and from
this watch's start (a controller that just started gives every host a full timeout).
Without heartbeats the remote driver's calls say UP or DOWN, as before.

A host UP with deferred deletes (nslb/amphora/remote.py) is reconciled: its agent's
amphorae that the database no longer places there are removed, their VIPs untouched.

Drain (`POST /v2/lbaas/hosts/{id}/drain`): a DRAINING host's amphorae are failed over
elsewhere through the worker's failover, at most `max_concurrent` at a time, the BACKUP
(standby) of a pair before its MASTER: the MASTER's LB is locked while the standby's
failover runs (db.amphorae.lock_for_failover), so it waits its turn. Once the host
carries no amphora it is DRAINED, and `nslb host remove` accepts it. Amphorae in ERROR or
FAILOVER_STOPPED, which the automatic failover leaves alone, are failed over too: the
operator asked for the host to be emptied, and left there they would keep it DRAINING
forever. Only those already being built or replaced (DRAIN_WAITS) are waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import insert, select

from nslb.db import amphorae, hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora as amphora_table
from nslb.db.tables import amphora_health
from nslb.health.autofailover import LEFT_ALONE
from nslb.heartbeat.store import HeartbeatStore, as_datetime, as_wall
from nslb.model.enums import AmphoraRole, AmphoraStatus
from nslb.model.resources import Amphora

log = logging.getLogger(__name__)

# What a drain does not fail over but waits for: amphorae being built (they are drained
# once up) or already being replaced or removed. Unlike autofailover.LEFT_ALONE, ERROR and
# FAILOVER_STOPPED amphorae are moved.
DRAIN_WAITS = LEFT_ALONE - {AmphoraStatus.ERROR, AmphoraStatus.FAILOVER_STOPPED}


class Reconciler(Protocol):
    def reconcile(self, host_id: str) -> list[str]: ...

    def hosts_changed(self) -> None: ...


def judge(heard: dict[str, float], now: float, timeout: float) -> dict[str, str]:
    """host id -> UP or DOWN from when each was last heard of. Pure."""
    return {h: hosts.UP if now - at <= timeout else hosts.DOWN for h, at in heard.items()}


def drain_order(rows: list[Amphora]) -> list[Amphora]:
    """Standbys (BACKUP) first, then STANDALONE, MASTER last; oldest first among equals."""
    rank: dict[str, int] = {AmphoraRole.BACKUP: 0, AmphoraRole.MASTER: 2}
    return sorted(rows, key=lambda a: (rank.get(a.role or "", 1), a.created_at, a.id))


class HostWatch:
    def __init__(self, db: Database, driver: Reconciler, store: HeartbeatStore | None,
                 timeout: float = 10.0, max_concurrent: int = 2,
                 on_failover: Callable[[str], None] = lambda lb_id: None,
                 interval: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.driver = driver
        self.store = store
        self.heartbeats = store is not None
        self.timeout = timeout
        self.max_concurrent = max(1, max_concurrent)
        self.on_failover = on_failover
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nslb-hosts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("hosts round failed")

    def run_once(self) -> None:
        came_up: set[str] = set()
        if self.heartbeats:
            came_up = self.states()
        self.cleanup(came_up)
        self.drain()

    # --- UP/DOWN from heartbeats -------------------------------------------------------------

    def heard(self) -> dict[str, float]:
        """host id -> when it was last heard of (wall clock); inserts the amphora_health
        row of a host that has none, so its own heartbeats are taken from now on."""
        now = self.clock()
        with self.db.read() as session:
            all_hosts = hosts.all_hosts(session, count=False)
            health = {r.amphora_id: as_wall(r.last_update) for r in session.execute(
                select(amphora_health.c.amphora_id, amphora_health.c.last_update))}
            placed = session.execute(select(amphora_table.c.id, amphora_table.c.compute_id)
                                     .where(amphora_table.c.compute_id.is_not(None),
                                            amphora_table.c.status != AmphoraStatus.DELETED)
                                     ).all()
        missing = [h.id for h in all_hosts if h.id not in health]
        if missing:
            with self.db.write() as session:
                session.execute(insert(amphora_health), [
                    {"amphora_id": h, "last_update": as_datetime(now), "busy": False,
                     "last_seq": 0} for h in missing])
        heard = {h.id: max(self.started, health.get(h.id, now), self._latest(h.id))
                 for h in all_hosts}
        for amphora_id, host_id in placed:
            if host_id in heard and amphora_id in health:
                heard[host_id] = max(heard[host_id], health[amphora_id],
                                     self._latest(amphora_id))
        return heard

    def _latest(self, ident: str) -> float:
        received = self.store.latest(ident) if self.store is not None else None
        return received.at if received is not None else 0.0

    def silent(self, host_id: str) -> bool:
        """The host's own heartbeat, as this process received it, is older than the
        timeout (the remote driver then does not call it): the same judgement, from the
        same heartbeats, as the amphorae' silence, so a failover off a host that just went
        silent does not wait for a connect timeout."""
        at = self._latest(host_id)
        return bool(at) and self.clock() - at > self.timeout

    def states(self) -> set[str]:
        """Record each host's UP/DOWN; the hosts that came UP."""
        judged = judge(self.heard(), self.clock(), self.timeout)
        came_up, changed = set(), False
        with self.db.write() as session:
            for host_id, state in judged.items():
                if hosts.set_state(session, host_id, state):
                    changed = True
                    if state == hosts.UP:
                        came_up.add(host_id)
                    log.warning("host %s is %s (%s)", host_id, state,
                                "heard again" if state == hosts.UP else
                                f"nothing heard for {self.timeout:g} s")
        if changed:
            self.driver.hosts_changed()
        return came_up

    # --- deferred deletes --------------------------------------------------------------------

    def cleanup(self, came_up: set[str]) -> None:
        with self.db.read() as session:
            waiting = set(hosts.deferred(session))
            up = {h.id for h in hosts.all_hosts(session, count=False) if h.state == hosts.UP}
        for host_id in sorted((waiting | came_up) & up):
            try:
                removed = self.driver.reconcile(host_id)
            except Exception as exc:  # tried again next round
                log.warning("cleaning host %s up after its return: %s", host_id, exc)
                continue
            if removed:
                log.warning("host %s is back: removed %d amphorae failed over elsewhere",
                            host_id, len(removed))

    # --- drain ---------------------------------------------------------------------------------

    def drain(self) -> None:
        with self.db.read() as session:
            draining = [h.id for h in hosts.all_hosts(session, count=False)
                        if h.admin_state == hosts.DRAINING]
        for host_id in draining:
            self.drain_host(host_id)

    def drain_host(self, host_id: str) -> list[str]:
        """One step of a host's drain: the amphorae whose failover was asked now."""
        started: list[Amphora] = []
        with self.db.write() as session:
            rows = list(session.scalars(select(Amphora).where(
                amphora_table.c.compute_id == host_id,
                amphora_table.c.status != AmphoraStatus.DELETED)))
            if not rows:
                if hosts.set_admin_state(session, host_id, hosts.DRAINED):
                    log.warning("host %s is DRAINED: it carries no amphora", host_id)
                return []
            busy = sum(a.status == AmphoraStatus.PENDING_DELETE for a in rows)
            room = self.max_concurrent - busy
            for row in drain_order([a for a in rows if a.status not in DRAIN_WAITS]):
                if room <= 0:
                    break
                if row.loadbalancer_id is None:
                    continue
                if amphorae.lock_for_failover(session, row.loadbalancer_id) is None:
                    continue  # the LB is busy (its standby's failover): next round
                amphorae.request_failover(session, [row],
                                          reason=f"host {host_id} is draining")
                started.append(row)
                room -= 1
        for row in started:
            log.warning("draining host %s: failing amphora %s (%s) of load balancer %s "
                        "over", host_id, row.id, row.role, row.loadbalancer_id)
            self.on_failover(row.loadbalancer_id or "")
        return [r.id for r in started]
