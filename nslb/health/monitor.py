"""The health loop: observe the amphorae of every provisioned LB, write operating statuses
and stats.

A round costs what changed, not what exists (1,000 LBs in well under a second):

- one query lists the amphorae to observe with their LB's generation, applied generation
  and provisioning status; the trees of LBs whose three did not change since they were
  read are kept from earlier rounds (any API change bumps the generation, and the worker
  moves the other two when it settles), and the others are read with one query per table;
- every round, every amphora's liveness is checked where the driver offers a cheap probe
  (`liveness()`: for all of them at once, no socket); an amphora is observed (a stats
  round trip) when its token moved, when its LB changed or is unhealthy, and otherwise
  as often as its health monitors look: every `delay` seconds, at least every MAX_PERIOD
  seconds (a member's status only changes when haproxy checks it, so looking more often
  finds nothing new);
- amphorae are observed concurrently, outside any transaction: all at once from this
  thread where the driver can (`observe_many()`), else by a few threads;
- statuses are derived only for LBs whose observation or tree changed, and the write
  transaction is opened only when a status or a counter actually changed (an idle host
  writes nothing), re-checking that each LB is still as it was read;
- the same changes, and only those, are handed to the data-plane metrics
  (metrics/dataplane.py), so a scrape reads memory and never the data plane.

With several controllers on one database, a controller watches only the LBs whose lease
it holds (db/leases.py: the worker claims it with the LB's first job, and whoever holds it
repairs what this loop finds down), so an LB's operating statuses have one writer and its
failover one decider. The failover plan itself runs under a database-wide lock, so the
count of failovers in progress (`max_concurrent`) covers every controller's; the
threshold (`FAILOVER_STOPPED` above it) counts the stale amphorae this controller
watches, a share of the whole when LBs are spread over controllers.

Amphorae on other hosts (with `heartbeats`, health/heartbeats.py) are not observed through
the driver: their latest heartbeat is their observation, and one silent for the heartbeat
timeout is failed over at once (through the same plan and threshold).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from nslb.amphora.base import AmphoraDriver, Observation
from nslb.db import amphorae, stats
from nslb.db.engine import Database
from nslb.db.leases import Leases, SoloLeases, serialize
from nslb.db.tables import (
    amphora,
    amphora_health,
    listener_statistics,
    load_balancer,
    table_of,
)
from nslb.db.tree import CHUNK, Tree, load_trees
from nslb.db.unchanged import UnlessWritten
from nslb.events import catalog, outbox
from nslb.health import autofailover
from nslb.health.autofailover import AutoFailover
from nslb.health.derive import derive
from nslb.health.heartbeats import HeartbeatWatch
from nslb.health.live import LiveBoard
from nslb.interpreter import let_others_run
from nslb.metrics.dataplane import DataPlane, amphora_states
from nslb.metrics.registry import Metrics
from nslb.model.enums import AmphoraStatus
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import Amphora, LoadBalancer, utcnow

log = logging.getLogger(__name__)
# An ERROR LB may still serve its last good config: its operating status stays true too.
OBSERVED = (P.ACTIVE.value, P.PENDING_UPDATE.value, P.ERROR.value)
# Amphorae whose data plane is expected to exist.
SERVING = (AmphoraStatus.ALLOCATED.value, AmphoraStatus.ERROR.value,
           AmphoraStatus.FAILOVER_STOPPED.value, AmphoraStatus.PENDING_DELETE.value)
# Observations run in a few threads once there are more amphorae than this.
INLINE = 16
SUMMARY_EVERY = 30.0  # seconds between the INFO lines that sum rounds up
# Longest time between two observations of a live amphora whose LB has no health monitor
# with a shorter delay (statuses then only change with the config, which is seen at once).
MAX_PERIOD = 5.0

Key = tuple[int, int, str]  # an LB's generation, applied generation, provisioning status


def serving(observations: list[Observation]) -> Observation:
    """The observation of the amphora that serves the LB: the one holding the VIP (VRRP
    MASTER) of a pair, else the first one running."""
    running = [o for o in observations if o.running]
    holder = next((o for o in running if o.vrrp == "MASTER"), None)
    if holder is None and any(o.vrrp for o in observations):
        return Observation(running=False)  # a pair with nobody holding the VIP serves nothing
    return holder or (running[0] if running else Observation(running=False))


def healthy(observation: Observation) -> bool:
    """haproxy answers, and a pair amphora's keepalived runs and passes its check."""
    return observation.running and observation.vrrp not in ("STOPPED", "FAULT")


def statuses_of(obs: Observation) -> tuple[Any, ...]:
    """What operating statuses are derived from (counters are not)."""
    return (obs.running, obs.vrrp, obs.listeners, obs.pools, obs.members)


def period_of(t: Tree, interval: float) -> float:
    """Seconds between two observations of a live LB: the shortest delay of its enabled
    health monitors, within [interval, MAX_PERIOD]."""
    delays = [hm.delay for hm in t.healthmonitors if hm.admin_state_up]
    return min(max(min(delays, default=MAX_PERIOD), interval), MAX_PERIOD)


@dataclass
class Round:
    """What one round did, for the log and the bench."""

    amphorae: int = 0
    observed: int = 0
    loadbalancers: int = 0
    trees_read: int = 0
    derived: int = 0
    statuses_written: int = 0
    stats_written: int = 0
    seconds: float = 0.0
    observe_seconds: float = 0.0


@dataclass
class _Known:
    """An LB's tree as last read, and what its amphorae looked like last round."""

    key: Key
    tree: Tree
    period: float
    seen: tuple[Any, ...] | None = None
    # the last observation of each amphora, when it was made, and the liveness tokens then
    observations: dict[str, Observation] = field(default_factory=dict)
    observed_at: float = float("-inf")
    tokens: dict[str, object] = field(default_factory=dict)
    # listener id -> (raw counters, process start) as stored in listener_statistics
    counters: dict[str, tuple[dict[str, int], float]] = field(default_factory=dict)


class HealthMonitor:
    def __init__(self, db: Database, driver: AmphoraDriver, interval: float = 1.0,
                 on_down: Callable[[str], None] = lambda lb_id: None,
                 failover: AutoFailover | None = None,
                 clock: Callable[[], float] = time.monotonic, threads: int = 8,
                 metrics: Metrics | None = None, dataplane: DataPlane | None = None,
                 leases: Leases | None = None,
                 heartbeats: HeartbeatWatch | None = None) -> None:
        """`on_down(lb_id)` is told when an LB's data plane is not running (a crashed
        haproxy, a deleted namespace), so the worker can rebuild it now. `failover`: when
        an amphora that repair cannot fix is replaced automatically (None: never).
        `threads`: how many amphorae are observed at once, for a driver without
        observe_many(). `metrics`: where rounds, repairs and failovers are counted;
        `dataplane`: the per-LB metrics store fed with what the rounds observe. `leases`:
        which LBs this controller watches (db/leases.py; all of them on SQLite).
        `heartbeats`: amphorae with an amphora_health row are judged by their heartbeats,
        not observe() (None: every amphora is observed)."""
        self.db = db
        self.leases: Leases = leases or SoloLeases()
        self.heartbeats = heartbeats
        self.metrics = metrics or Metrics()
        self.dataplane = dataplane or DataPlane()
        self.driver = driver
        self.interval = interval
        self.on_down = on_down
        self.failover = failover
        self.clock = clock
        self.threads = threads
        self.last_round = Round()
        # what the dashboard shows live: latest traffic and amphora states, status changes
        self.live = LiveBoard()
        self._unhealthy_since: dict[str, float] = {}
        self._known: dict[str, _Known] = {}
        self._listing: UnlessWritten[tuple[dict[str, list[str]], dict[str, Key]]] = \
            UnlessWritten(db)
        self._stored_counters: dict[str, tuple[dict[str, int], float]] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._durations: list[float] = []
        self._observed: list[int] = []
        self._summarised_at = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nslb-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("health round failed")

    # --- one round -----------------------------------------------------------------------

    def run_once(self) -> Round:
        started = time.perf_counter()
        report = Round()
        by_lb, keys = self._read(report)
        if self.heartbeats is not None:
            self.heartbeats.read()
        now = self.clock()
        observe_started = time.perf_counter()
        due = self._due(by_lb, now)
        observed_amphorae = self._observe([a for lb_id in due for a in by_lb[lb_id]])
        report.observe_seconds = time.perf_counter() - observe_started
        report.observed = len(observed_amphorae)
        for lb_id in due:
            known = self._known.get(lb_id)
            if known is not None and all(a in observed_amphorae for a in by_lb[lb_id]):
                known.observations = {a: observed_amphorae[a] for a in by_lb[lb_id]}
                known.observed_at = now
        observed: dict[str, Observation] = {}
        seen, wall = set(), time.time()
        self.live.keep_only(set(by_lb))
        # Only the LBs looked at now: one that is not due was healthy when last looked at
        # and nothing about it moved since (_due), so it has nothing to record or repair.
        for n, lb_id in enumerate(due):
            let_others_run(n)
            amphora_ids = by_lb[lb_id]
            known = self._known.get(lb_id)
            last = known.observations if known is not None else {}
            observations = [observed_amphorae.get(a, last.get(a)) for a in amphora_ids]
            if any(o is None for o in observations):
                continue  # logged by _observe; the next round tries again
            present = [o for o in observations if o is not None]
            observed[lb_id] = serving(present)
            if all(a in observed_amphorae for a in amphora_ids):
                # only what was looked at now: a reused observation's counters are old
                self.live.record(lb_id, wall, observed[lb_id],
                                 dict(zip(amphora_ids, present, strict=True)))
            for amphora_id, observation in zip(amphora_ids, present, strict=True):
                seen.add(amphora_id)
                if healthy(observation):
                    self._unhealthy_since.pop(amphora_id, None)
                else:
                    self._unhealthy_since.setdefault(amphora_id, now)
            if not all(o.running and o.vrrp != "STOPPED" for o in present):
                self.metrics.repairs.inc()
                self.on_down(lb_id)  # rebuild what is down (a standby too)
        for gone in set(self._unhealthy_since) - seen:
            del self._unhealthy_since[gone]
        if self.failover is not None and self.heartbeats is not None:
            for amphora_id in self.heartbeats.silent & seen:  # waited its timeout already
                self._unhealthy_since[amphora_id] = min(
                    self._unhealthy_since.get(amphora_id, now), now - self.failover.timeout)
        if self.failover is not None and self._unhealthy_since:
            self._fail_over(now)
        self._write(observed, keys, report)  # what was not looked at again has not changed
        self.dataplane.retain(keys)
        report.amphorae = sum(len(ids) for ids in by_lb.values())
        report.loadbalancers = len(by_lb)
        report.seconds = time.perf_counter() - started
        self._report(report)
        return report

    def _read(self, report: Round) -> tuple[dict[str, list[str]], dict[str, Key]]:
        """The amphorae to observe per LB, each LB's key, and fresh trees where needed:
        the last answer while nothing was written (db/unchanged.py); only the LBs whose
        lease this controller holds."""
        by_lb, keys = self._listing.get(lambda: self._read_now(report))
        if not self.leases.shared:
            return by_lb, keys
        mine = {lb_id for lb_id in keys if self.leases.holds(f"lb:{lb_id}")}
        return ({k: v for k, v in by_lb.items() if k in mine},
                {k: v for k, v in keys.items() if k in mine})

    def _read_now(self, report: Round) -> tuple[dict[str, list[str]], dict[str, Key]]:
        with self.db.read() as session:
            rows = session.execute(
                select(amphora.c.loadbalancer_id, amphora.c.id, load_balancer.c.generation,
                       load_balancer.c.applied_generation,
                       load_balancer.c.provisioning_status)
                .join(load_balancer, load_balancer.c.id == amphora.c.loadbalancer_id)
                .where(load_balancer.c.provisioning_status.in_(OBSERVED),
                       amphora.c.status.in_(SERVING))
                .order_by(amphora.c.loadbalancer_id, amphora.c.created_at)).all()
            by_lb: dict[str, list[str]] = {}
            keys: dict[str, Key] = {}
            for lb_id, amphora_id, generation, applied, status in rows:
                by_lb.setdefault(lb_id, []).append(amphora_id)
                keys[lb_id] = (generation, applied, status)
            for gone in set(self._known) - set(keys):
                del self._known[gone]
            stale = [lb_id for lb_id, key in keys.items()
                     if lb_id not in self._known or self._known[lb_id].key != key]
            if stale:
                counters = self._counters(session)
                for lb_id, tree in load_trees(session, stale).items():
                    mine = {li.id for li in tree.listeners}
                    self._known[lb_id] = _Known(keys[lb_id], tree,
                                                period_of(tree, self.interval), counters={
                                                    k: v for k, v in counters.items()
                                                    if k in mine})
                report.trees_read = len(stale)
        return by_lb, keys

    def _due(self, by_lb: dict[str, list[str]], now: float) -> list[str]:
        """The LBs whose amphorae are observed this round (see the module docstring)."""
        tokens = self._tokens(by_lb)
        due = []
        for lb_id, amphora_ids in by_lb.items():
            known = self._known.get(lb_id)
            if known is None or tokens is None:
                due.append(lb_id)
                continue
            mine = {a: tokens[a] for a in amphora_ids}
            moved = mine != known.tokens or any(t is None for t in mine.values())
            known.tokens = mine
            if moved or known.seen is None or set(known.observations) != set(amphora_ids) \
                    or not all(healthy(o) for o in known.observations.values()) \
                    or now - known.observed_at >= known.period - 1e-3:
                due.append(lb_id)
        return due

    def _tokens(self, by_lb: dict[str, list[str]]) -> dict[str, object] | None:
        """Every amphora's liveness token: its heartbeat's seq when it reports by
        heartbeat, else what the driver's liveness() says of it, asked once for all of
        them (None for each without such a probe, so looked at every round). None when
        there is neither: every LB is looked at every round."""
        liveness = getattr(self.driver, "liveness", None)
        if liveness is None and self.heartbeats is None:
            return None
        out: dict[str, object] = {}
        local = []
        for amphora_ids in by_lb.values():
            for amphora_id in amphora_ids:
                if self.heartbeats is not None and self.heartbeats.watches(amphora_id):
                    out[amphora_id] = self.heartbeats.token(amphora_id)
                else:
                    local.append(amphora_id)
        if local:
            out.update(liveness(local) if liveness is not None else dict.fromkeys(local))
        return out

    def _counters(self, session: Session) -> dict[str, tuple[dict[str, int], float]]:
        """listener id -> (raw, process start) as stored; read once, then kept current."""
        if self._stored_counters is None:
            rows = session.execute(select(listener_statistics.c.listener_id,
                                          listener_statistics.c.raw,
                                          listener_statistics.c.process_start))
            self._stored_counters = {r.listener_id: (dict(r.raw or {}), r.process_start)
                                     for r in rows}
        return self._stored_counters

    def _observe(self, amphora_ids: list[str]) -> dict[str, Observation]:
        """amphora id -> its observation (left out when observing it failed)."""
        many = getattr(self.driver, "observe_many", None)
        if many is not None:
            return self._observe_together(amphora_ids, many)
        if len(amphora_ids) <= INLINE or self.threads <= 1:
            return self._observe_some(amphora_ids)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads,
                                            thread_name_prefix="nslb-observe")
        # One task per thread over a slice each: a future per amphora would cost more
        # than many an observation.
        slices = [amphora_ids[i::self.threads] for i in range(self.threads)]
        out: dict[str, Observation] = {}
        for part in self._pool.map(self._observe_some, slices):
            out.update(part)
        return out

    def _observe_together(self, amphora_ids: list[str],
                          many: Callable[[list[str]], dict[str, Observation]]
                          ) -> dict[str, Observation]:
        """Through the driver's observe_many(), which asks all of them at once from this
        thread (no pool: threads cost more CPU than the questions). Amphorae judged by
        heartbeats as _observe_some does; if the batch fails, each by itself."""
        heartbeats = self.heartbeats
        heard = {a for a in amphora_ids if heartbeats is not None and heartbeats.watches(a)}
        out = self._observe_some(list(heard)) if heard else {}
        local = [a for a in amphora_ids if a not in heard]
        if local:
            try:
                out.update(many(local))
            except Exception:
                log.exception("observing %d amphorae together failed; observing them one "
                              "by one", len(local))
                out.update(self._observe_some(local))
        return out

    def _observe_some(self, amphora_ids: list[str]) -> dict[str, Observation]:
        out: dict[str, Observation] = {}
        heartbeats = self.heartbeats
        for amphora_id in amphora_ids:
            if heartbeats is not None and heartbeats.watches(amphora_id):
                heard = heartbeats.observe(amphora_id)
                if heard is not None:  # None: not heard of yet, nor silent
                    out[amphora_id] = heard
                continue
            try:
                out[amphora_id] = self.driver.observe(amphora_id)
            except Exception:
                self.metrics.observe_failures.inc()
                log.exception("observing amphora %s failed", amphora_id)
        return out

    # --- writing what changed --------------------------------------------------------------

    def _write(self, observed: dict[str, Observation], keys: dict[str, Key],
               report: Round) -> None:
        statuses: dict[str, dict[str, str]] = {}   # lb id -> object id -> new status
        counters: dict[str, dict[str, tuple[dict[str, int], float]]] = {}
        for lb_id, obs in observed.items():
            known = self._known.get(lb_id)
            if known is None:
                continue
            fingerprint = statuses_of(obs)
            fresh = self._fresh_counters(known, obs)
            amphorae = amphora_states(known.observations)
            if fresh or fingerprint != known.seen or not self.dataplane.current(lb_id,
                                                                                amphorae):
                self.dataplane.update(known.tree, obs, amphorae)
            if fingerprint != known.seen:
                report.derived += 1
                changed = self._changed_statuses(known.tree, obs)
                if changed:
                    statuses[lb_id] = changed
                else:
                    known.seen = fingerprint
            if fresh:
                counters[lb_id] = fresh
        if not statuses and not counters:
            return
        with self.db.write() as session:
            current = self._keys_now(session, sorted({*statuses, *counters}))
            for lb_id in list(statuses) + list(counters):
                if current.get(lb_id) != keys[lb_id]:  # changed meanwhile: read it again
                    statuses.pop(lb_id, None)
                    counters.pop(lb_id, None)
            # Inserted when this transaction commits, after its status updates.
            outbox.record(session, [e for lb_id, changed in sorted(statuses.items())
                                    for e in catalog.operating(
                                        self._known[lb_id].tree.lb,
                                        self._known[lb_id].tree.everything(), changed)])
            report.statuses_written = self._store_statuses(session, statuses)
            self.metrics.status_changes.inc(report.statuses_written)
            for lb_id, fresh in counters.items():
                for listener_id, (raw, started) in fresh.items():
                    stats.record(session, lb_id, listener_id, raw, started)
                    report.stats_written += 1
        for lb_id, changed in statuses.items():
            known = self._known[lb_id]
            for obj in known.tree.everything():
                if obj.id in changed:
                    obj.operating_status = changed[obj.id]
            known.seen = statuses_of(observed[lb_id])
        for lb_id, fresh in counters.items():
            self._known[lb_id].counters.update(fresh)
            if self._stored_counters is not None:
                self._stored_counters.update(fresh)

    @staticmethod
    def _changed_statuses(t: Tree, obs: Observation) -> dict[str, str]:
        derived = derive(t, obs)
        return {obj.id: derived[obj.id] for obj in t.everything()
                if obj.id in derived and obj.operating_status != derived[obj.id]}

    @staticmethod
    def _fresh_counters(known: _Known,
                        obs: Observation) -> dict[str, tuple[dict[str, int], float]]:
        """Counters of the LB's listeners that differ from what is stored."""
        listeners = {li.id for li in known.tree.listeners}
        fresh = {}
        for listener_id, reading in obs.counters.items():
            if listener_id not in listeners:
                continue
            stored = known.counters.get(listener_id)
            if stored is None or stored[1] != obs.process_start or stored[0] != vars(reading):
                fresh[listener_id] = (asdict(reading), obs.process_start)
        return fresh

    @staticmethod
    def _keys_now(session: Session, lb_ids: list[str]) -> dict[str, Key]:
        """The LBs' keys, their rows locked in id order (`lb_ids` sorted). Whoever writes an
        LB's children locks the LB row first (the API, the worker's settle): this write
        updates listener, pool and member rows of several LBs, and taking them before
        their LBs deadlocked against a member create on PostgreSQL."""
        out: dict[str, Key] = {}
        for start in range(0, len(lb_ids), CHUNK):
            rows = session.execute(
                select(load_balancer.c.id, load_balancer.c.generation,
                       load_balancer.c.applied_generation, load_balancer.c.provisioning_status)
                .where(load_balancer.c.id.in_(lb_ids[start:start + CHUNK]))
                .order_by(load_balancer.c.id).with_for_update())
            out.update({r.id: (r.generation, r.applied_generation, r.provisioning_status)
                        for r in rows})
        return out

    def _store_statuses(self, session: Session, statuses: dict[str, dict[str, str]]) -> int:
        """One UPDATE statement per table, executed for every changed row; updated_at moves
        with the status, as Octavia's rows do on every write."""
        by_table: dict[Any, list[dict[str, str]]] = {}
        now = utcnow()
        for lb_id, changed in statuses.items():
            for obj in self._known[lb_id].tree.everything():
                if obj.id in changed:
                    by_table.setdefault(table_of(type(obj)), []).append(
                        {"row_id": obj.id, "new_status": changed[obj.id]})
        for table, params in by_table.items():
            session.execute(update(table).where(table.c.id == bindparam("row_id"))
                            .values(operating_status=bindparam("new_status"), updated_at=now),
                            params)
        return sum(len(p) for p in by_table.values())

    # --- failover --------------------------------------------------------------------------

    def _fail_over(self, now: float) -> None:
        """Replace the amphorae that stayed unhealthy too long (autofailover.plan)."""
        assert self.failover is not None
        if all(now - since < self.failover.timeout for since in self._unhealthy_since.values()):
            return  # nobody is stale yet: nothing to plan, no write transaction
        with self.db.write() as session:
            serialize(session, "failover")
            rows = session.execute(select(amphora.c.id, amphora.c.status)).all()
            statuses = {r.id: r.status for r in rows}
            busy = sum(s == AmphoraStatus.PENDING_DELETE for s in statuses.values())
            replace, stop = autofailover.plan(self._unhealthy_since, statuses, busy, now,
                                              self.failover)
            stopped = 0
            for amphora_id in stop:
                row = session.get(Amphora, amphora_id)
                if row is not None:
                    row.status = AmphoraStatus.FAILOVER_STOPPED
                    stopped += 1
                    lb = session.get(LoadBalancer, row.loadbalancer_id) \
                        if row.loadbalancer_id else None
                    outbox.record(session, [catalog.amphora(row, lb, "failover.stopped",
                                                            priority="ERROR")])
                    log.error("amphora %s stale with %d others: failover stopped (above the "
                              "threshold of %s)", amphora_id, len(stop) - 1,
                              self.failover.threshold)
            started = []
            for amphora_id in replace:
                row = session.get(Amphora, amphora_id)
                if row is None or row.loadbalancer_id is None:
                    continue
                if amphorae.lock_for_failover(session, row.loadbalancer_id) is None:
                    continue  # the LB is busy; the next round tries again
                amphorae.request_failover(session, [row], reason=self._reason(row.id, now))
                started.append(row)
            if self.heartbeats is not None and started:  # Octavia's busy flag
                session.execute(update(amphora_health)
                                .where(amphora_health.c.amphora_id.in_([r.id for r in started]))
                                .values(busy=True))
        self.metrics.failovers_stopped.inc(stopped)
        for row in started:
            self.metrics.failovers.labels("health").inc()
            log.warning("amphora %s of load balancer %s: %s: failing over",
                        row.id, row.loadbalancer_id, self._reason(row.id, now))
            self._unhealthy_since.pop(row.id, None)
            self.on_down(row.loadbalancer_id or "")

    def _reason(self, amphora_id: str, now: float) -> str:
        if self.heartbeats is not None and amphora_id in self.heartbeats.silent:
            return f"no heartbeat for {self.heartbeats.timeout:.0f} s"
        return f"unhealthy for {now - self._unhealthy_since[amphora_id]:.0f} s"

    # --- reporting -------------------------------------------------------------------------

    def _report(self, report: Round) -> None:
        """DEBUG for every round, WARNING for one that overran its interval, and an INFO
        summary every SUMMARY_EVERY seconds (what an operator sizing a host looks at)."""
        self.last_round = report
        self.metrics.health_rounds.inc()
        self.metrics.health_latency.observe(report.seconds)
        self.metrics.health_amphorae.set(report.amphorae)
        log.debug("health round: %s", report)
        if report.seconds > self.interval:
            log.warning("health round took %.0f ms for %d amphorae of %d load balancers, "
                        "longer than its interval of %.0f ms", report.seconds * 1000,
                        report.amphorae, report.loadbalancers, self.interval * 1000)
        self._durations.append(report.seconds)
        self._observed.append(report.observed)
        if time.monotonic() - self._summarised_at >= SUMMARY_EVERY:
            durations, self._durations = self._durations, []
            observed, self._observed = self._observed, []
            self._summarised_at = time.monotonic()
            log.info("health rounds: %d amphorae of %d load balancers, %d rounds, "
                     "p50 %.1f ms, max %.1f ms, %.0f amphorae observed per round",
                     report.amphorae, report.loadbalancers, len(durations),
                     statistics.median(durations) * 1000, max(durations) * 1000,
                     statistics.mean(observed))
