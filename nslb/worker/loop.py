"""The reconcile loop: the only place where the worker does I/O.

One planner thread reads the database, asks `decide` what each LB needs, and hands the work
to a small pool of threads, never two jobs for the same LB at once. Every step is
idempotent and all intent lives in the database, so a kill -9 at any line is recovered by
simply running again: PENDING_* objects are picked up where they were left.

Several controllers may share one PostgreSQL database (db/leases.py): a job for an LB runs
only in the controller holding the LB's lease ("lb:<id>"), claimed when the planner finds
work for it and renewed while the controller lives, and every transaction that settles a
job re-checks the lease (`fence`), so two controllers never run jobs for one LB and a
controller that lost its lease cannot settle over its successor. The in-memory state
below (attempts, last syncs, converged bundles) is the lease holder's cache: a successor
starts without it and does a full apply from the database, which is idempotent. On SQLite
(one controller) every lease is ours without a query.

Whatever a driver raises is caught: the failed attempt is recorded per LB (in memory),
`decide` holds the LB back until its backoff has passed and says when to give up, and only
then does the pending change go to ERROR, with the reason in the log.

The periodic resync of converged LBs costs what changed, not what exists: it hands the
driver the bundles of the LB's last settled apply again (no database read, no render, no
write unless the data plane confirmed something else), and the driver checks them cheaply
(amphora/namespace.py). Those bundles are reused only while the LB's generation and the
networks and subnets they were rendered from are unchanged; otherwise the resync is a
full apply. Resyncs run in their own lane, one thread paced to spread the LBs over the
interval, so changes never queue behind them and 1,000 checks never land at once.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nslb.amphora.base import (
    AmphoraDriver,
    ApplyError,
    ConfigRejected,
    PlacesAmphorae,
    Superseded,
)
from nslb.db import amphorae, snapshots
from nslb.db.engine import RESYNC_CHANNEL, Database
from nslb.db.leases import Leases, SoloLeases
from nslb.db.tables import health_monitor, listener, load_balancer, member, network, pool, subnet
from nslb.db.unchanged import UnlessWritten
from nslb.db.vxlan_hosts import vxlan_version
from nslb.metrics.registry import Metrics
from nslb.model.bundle import Bundle, HostFacts
from nslb.model.enums import AmphoraStatus
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.ipam import IpamError
from nslb.model.resources import LoadBalancer
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.status import PENDING
from nslb.render.bundle import InconsistentSnapshot, build_bundle
from nslb.render.values import UnsafeValue
from nslb.secrets.store import SecretStore
from nslb.tls.material import MaterialUnavailable, resolve
from nslb.worker import amphorae as amphora_prep
from nslb.worker import failover, outcome
from nslb.worker.decide import (
    Action,
    Attempts,
    LbState,
    RetryPolicy,
    Verdict,
    after_failure,
    decide,
    orphans,
    resync_pace,
)

log = logging.getLogger(__name__)
# Seconds between two full plans at most (every LB's state, from memory while nothing was
# written: db/unchanged.py).
PLAN_EVERY = 1.0
# The weight of the newest check in the resync lane's moving average of a check's CPU.
COST_WEIGHT = 0.2


@dataclass(frozen=True)
class Converged:
    """What the last settled apply of an LB handed to the driver, and what the data plane
    confirmed. `registry`: the version of the networks and subnets it was rendered from."""

    generation: int
    registry: tuple[Any, ...]
    bundles: tuple[Bundle, ...]
    confirmed: dict[str, str]


@dataclass
class Driven:
    """What handing an LB's bundles to the driver gave: the reason if anything went wrong,
    whether retrying cannot help (the config itself was refused), amphora id -> the bundle
    hash its data plane confirmed, the bundles it took, and whether a resync may hand
    them again (not while an amphora is being replaced)."""

    error: str | None = None
    permanent: bool = False
    confirmed: dict[str, str] = dataclasses.field(default_factory=dict)
    bundles: tuple[Bundle, ...] = ()
    reusable: bool = True
    # An amphora serves this newer generation of the LB (base.Superseded).
    superseded: int | None = None


def _lb_states(session: Session, lb_ids: list[str] | None = None) -> list[LbState]:
    """The planner's view of every LB (or of `lb_ids`): its statuses and generations, and
    whether a child of it waits for a change."""
    pending: set[str] = set()
    for table in (listener, pool, member, health_monitor):
        stmt = select(table.c.loadbalancer_id).where(
            table.c.provisioning_status.in_(PENDING)).distinct()
        if lb_ids is not None:
            stmt = stmt.where(table.c.loadbalancer_id.in_(lb_ids))
        pending.update(session.scalars(stmt))
    query = select(load_balancer.c.id, load_balancer.c.provisioning_status,
                   load_balancer.c.generation, load_balancer.c.applied_generation)
    if lb_ids is not None:
        query = query.where(load_balancer.c.id.in_(lb_ids))
    return [LbState(r.id, r.provisioning_status, r.generation, r.applied_generation,
                    r.id in pending) for r in session.execute(query)]


def registry_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever a network or subnet is created, updated or deleted, or a host joins
    or leaves a VXLAN network: the parts of a bundle (MTU, segment, gateway, host routes,
    the hosts a VXLAN port floods to) that an LB's generation does not cover."""
    out: list[Any] = []
    for table in (network, subnet):
        out.extend(session.execute(select(func.count(), func.max(table.c.created_at),
                                          func.max(table.c.updated_at))).one())
    out.append(vxlan_version(session))
    return tuple(out)


class LeaseLost(RuntimeError):
    """Another controller holds the LB's lease now: this job must not settle."""


def unit(lb_id: str) -> str:
    """The lease name of an LB's work."""
    return f"lb:{lb_id}"


def describe(exc: BaseException) -> str:
    """The reason shown in logs: a driver's own ApplyError text, else the exception type too
    (an OSError without a message must still read as a failure)."""
    text = str(exc)
    if isinstance(exc, ApplyError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Worker:
    def __init__(self, db: Database, driver: AmphoraDriver, *, resync_interval: float = 10.0,
                 threads: int = 4, clock: Callable[[], float] = time.monotonic,
                 retry: RetryPolicy | None = None, metrics: Metrics | None = None,
                 secrets: SecretStore | None = None, leases: Leases | None = None) -> None:
        self.db = db
        # Which LBs this controller works on (all of them on SQLite).
        self.leases: Leases = leases or SoloLeases()
        self.metrics = metrics or Metrics()
        self.driver = driver
        # Where TLS material is read from before each render (None: TLS cannot be served).
        self.secrets = secrets
        self.resync_interval = resync_interval
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self._wake = threading.Event()
        # LBs an API change named (kick), and whether anything asked for a full plan
        self._hinted: set[str] = set()
        self._full_plan = True
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._last_sync: dict[str, float] = {}
        # Failed attempts per LB; only the job of that LB writes its entry.
        self._attempts: dict[str, Attempts] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nslb-apply")
        self._thread: threading.Thread | None = None
        # The last settled apply of each LB (only its own jobs write its entry).
        self._converged: dict[str, Converged] = {}
        self._registry: tuple[Any, ...] = ()
        self._states: UnlessWritten[tuple[list[LbState], tuple[Any, ...]]] = \
            UnlessWritten(db)
        # The resync lane: LBs due for a periodic resync; `_urgent`: resyncs asked for by
        # resync() (the health loop), which go to the pool; `_deferred`: LBs the planner
        # skipped while a job for them ran.
        self._due: deque[LbState] = deque()
        self._queued: set[str] = set()
        self._urgent: set[str] = set()
        self._deferred: set[str] = set()
        self._lane_wake = threading.Condition(self._lock)
        self._lane: threading.Thread | None = None
        # The verdict of the last failed attempt of a running job, per LB (for metrics).
        self._verdicts: dict[str, Verdict] = {}

    # --- lifecycle ---------------------------------------------------------------------

    def kick(self, lb_id: str | None = None) -> None:
        """Something changed in the database: plan again now. `lb_id`: the one LB the
        change was about (an API write), which is planned by itself at once; the full plan
        (every LB's state read again: ~30 ms of CPU at 1,000 LBs, on the new LB's path and
        beside its apply) then waits for the next round, at most PLAN_EVERY seconds."""
        with self._lock:
            if lb_id is None:
                self._full_plan = True
            else:
                self._hinted.add(lb_id)
        self._wake.set()

    def resync(self, lb_id: str) -> None:
        """Resync this LB now rather than at its next periodic resync, in the pool rather
        than the paced lane (a backoff after a failed attempt still holds: the health loop
        calls this every round while an LB is down, which must not turn into a retry
        storm). An LB whose lease another controller holds is announced to it (db/changes.py
        hands it to that controller's resync)."""
        if self.leases.shared and not self.leases.holds(unit(lb_id)):
            self.db.announce(RESYNC_CHANNEL, lb_id)
            return
        self.resync_here(lb_id)

    def resync_here(self, lb_id: str) -> None:
        """resync() in this controller only (what an announcement asks of each one: the
        planner runs it only where the LB's lease is, or can be, held)."""
        with self._lock:
            self._urgent.add(lb_id)
            self._full_plan = True
        self._last_sync.pop(lb_id, None)
        self._wake.set()

    def attempts(self, lb_id: str) -> Attempts | None:
        """The record of consecutive failed attempts at this LB, if any (for operators and
        tests)."""
        return self._attempts.get(lb_id)

    def start(self) -> None:
        self.clean_orphans()
        self._thread = threading.Thread(target=self._run, name="nslb-worker", daemon=True)
        self._thread.start()
        self._lane = threading.Thread(target=self._run_lane, name="nslb-resync", daemon=True)
        self._lane.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop planning and wait for running jobs; the data plane keeps serving."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            self._lane_wake.notify_all()
        for thread in (self._thread, self._lane):
            if thread is not None:
                thread.join(timeout)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        planned = float("-inf")
        while not self._stop.is_set():
            self._wake.wait(timeout=PLAN_EVERY)
            self._wake.clear()
            with self._lock:
                hinted, self._hinted = self._hinted, set()
                full, self._full_plan = self._full_plan, False
            try:
                if hinted:
                    self._submit(self._plan_some(hinted))
                if full or time.monotonic() - planned >= PLAN_EVERY - 0.01:
                    planned = time.monotonic()
                    self.plan_and_submit()
            except Exception:  # keep the loop alive; the next round retries
                log.exception("worker planning failed")
                with self._lock:
                    self._full_plan = True

    # --- planning ----------------------------------------------------------------------

    def states(self) -> list[LbState]:
        """Every LB's state (and the registry's version); the last answer while nothing
        was written (db/unchanged.py): the planner asks every second."""
        states, self._registry = self._states.get(self._read_states)
        return states

    def _read_states(self) -> tuple[list[LbState], tuple[Any, ...]]:
        with self.db.read() as session:
            return _lb_states(session), registry_version(session)

    def _plan_some(self, lb_ids: set[str]) -> list[tuple[LbState, Action]]:
        """What the LBs an API change named need now, read by themselves: their changes
        and deletions (periodic resyncs are the full plan's business)."""
        now = self.clock()
        with self.db.read() as session:
            states = _lb_states(session, sorted(lb_ids))
        out: list[tuple[LbState, Action]] = []
        for state in states:
            action = decide(state, self._last_sync.get(state.id), now, self.resync_interval,
                            self._attempts.get(state.id))
            if action in (Action.APPLY, Action.DELETE):
                out.append((state, action))
        if not out:
            return out
        mine = self.leases.claim(unit(s.id) for s, _ in out)
        return [(s, a) for s, a in out if unit(s.id) in mine]

    def plan(self, fast_forward: bool = False) -> list[tuple[LbState, Action]]:
        """What every LB needs now. `fast_forward` treats pending backoffs as elapsed
        (drain() for tests and one-shot tools, which must not sleep through them)."""
        now = self.clock()
        out: list[tuple[LbState, Action]] = []
        states = self.states()
        ids = {s.id for s in states}
        for gone in set(self._attempts) - ids:
            self._attempts.pop(gone, None)
        for gone in set(self._converged) - ids:
            self._converged.pop(gone, None)
        self._release_gone(ids)
        queued, urgent = self._queued, self._urgent
        for state in states:
            if state.id in queued and state.id not in urgent and not fast_forward \
                    and not state.dirty:
                continue  # waits in the resync lane already (at 1,000 LBs, most of them)
            record = self._attempts.get(state.id)
            at = max(now, record.retry_at) if fast_forward and record is not None else now
            action = decide(state, self._last_sync.get(state.id), at, self.resync_interval,
                            record)
            if action is not Action.NOTHING:
                out.append((state, action))
        if not out:
            return out
        mine = self.leases.claim(unit(s.id) for s, _ in out)
        return [(s, a) for s, a in out if unit(s.id) in mine]

    def _release_gone(self, ids: set[str]) -> None:
        """Give back the leases of LBs that no longer exist (deleted through any
        controller)."""
        gone = [n for n in self.leases.held() if n.startswith("lb:") and n[3:] not in ids]
        if gone:
            self.leases.release(gone)

    def plan_and_submit(self, fast_forward: bool = False) -> list[Future[None]]:
        """Submit what the plan says: changes and deletions to the pool, periodic resyncs
        to the resync lane (with `fast_forward`, as drain() does, to the pool as well, so
        the caller can wait for them)."""
        return self._submit(self.plan(fast_forward), fast_forward)

    def _submit(self, planned: list[tuple[LbState, Action]],
                fast_forward: bool = False) -> list[Future[None]]:
        futures = []
        for state, action in planned:
            with self._lock:
                if state.id in self._in_flight:
                    self._deferred.add(state.id)
                    continue
                if action is Action.RESYNC and not fast_forward and \
                        state.id not in self._urgent:
                    self._enqueue(state)
                    continue
                self._urgent.discard(state.id)
                self._in_flight.add(state.id)
            self.metrics.queue_depth.labels("changes").inc()
            futures.append(self._pool.submit(self._pooled_job, state, action))
        return futures

    def _enqueue(self, state: LbState) -> None:
        """Put an LB in the resync lane (the caller holds the lock)."""
        if state.id not in self._queued:
            self._queued.add(state.id)
            self._due.append(state)
            self.metrics.queue_depth.labels("resync").set(len(self._due))
            self._lane_wake.notify()

    def drain(self, rounds: int = 50) -> None:
        """Run until nothing is pending (tests and one-shot tools); backoffs are skipped,
        so a failing change takes its bounded number of attempts and then settles."""
        for _ in range(rounds):
            for future in self.plan_and_submit(fast_forward=True):
                future.result()
            if not any(s.dirty for s in self.states()):
                return
        raise RuntimeError("the worker did not converge")

    # --- jobs --------------------------------------------------------------------------

    def _pooled_job(self, state: LbState, action: Action) -> None:
        self.metrics.queue_depth.labels("changes").dec()
        self._job(state, action)

    def _job(self, state: LbState, action: Action) -> None:
        """Run one job and record it: how long it took, and whether it converged (ok),
        failed and will be tried again (retry), or settled the change as ERROR (error)."""
        self.metrics.jobs_running.inc()
        started = time.perf_counter()
        try:
            self._run_job(state, action)
        finally:
            self.metrics.jobs_running.dec()
            self.metrics.job_latency.labels(action.value).observe(
                time.perf_counter() - started)
            verdict = self._verdicts.pop(state.id, None)
            result = {None: "ok", Verdict.RETRY: "retry", Verdict.GIVE_UP: "error"}[verdict]
            self.metrics.jobs.labels(action.value, result).inc()

    def _run_job(self, state: LbState, action: Action) -> None:
        replan = action is not Action.RESYNC
        try:
            if not self.leases.holds(unit(state.id)):
                raise LeaseLost(state.id)
            if action is Action.DELETE:
                self._delete(state)
            elif action is Action.RESYNC:
                replan = not self._resync(state)
            else:
                self._apply(state)
        except LeaseLost:  # its new holder does the work from the database state
            log.warning("job %s on load balancer %s dropped: another controller holds its "
                        "lease now", action, state.id)
            self._forget(state.id)
            replan = False
        except Exception as exc:  # the database or a bug: back off like any failure
            log.exception("job %s on load balancer %s failed", action, state.id)
            self._failed(state, describe(exc), quiet=True)
            replan = True
        finally:
            with self._lock:
                self._in_flight.discard(state.id)
                if state.id in self._deferred:
                    self._deferred.discard(state.id)
                    replan = True
                self._full_plan = self._full_plan or replan
            if replan:  # a resync that went well leaves nothing new to plan
                self._wake.set()

    def _forget(self, lb_id: str) -> None:
        """Drop what this controller remembered of an LB it no longer works on."""
        self._attempts.pop(lb_id, None)
        self._last_sync.pop(lb_id, None)
        self._converged.pop(lb_id, None)

    @contextmanager
    def _settling(self, lb_id: str) -> Iterator[Session]:
        """A write transaction that settles a job of this LB, only while its lease is ours
        (LeaseLost otherwise, and nothing is written)."""
        with self.db.write() as session:
            if not self.leases.fence(session, unit(lb_id)):
                raise LeaseLost(lb_id)
            yield session

    # --- the resync lane ---------------------------------------------------------------

    def _run_lane(self) -> None:
        """Take due LBs one by one, paced so that every converged LB is checked about once
        per resync interval (a resync asked for by resync() goes to the pool instead), and
        so that the lane stays within its share of a core (decide.RESYNC_CPU_SHARE): the
        CPU a check takes is measured, a moving average, so one full apply does not stall
        the lane for long."""
        cost = 0.0
        while not self._stop.is_set():
            with self._lock:
                while not self._due and not self._stop.is_set():
                    self._lane_wake.wait(timeout=1.0)
                if self._stop.is_set():
                    return
                state = self._due.popleft()
                self._queued.discard(state.id)
                self.metrics.queue_depth.labels("resync").set(len(self._due))
                if state.id in self._in_flight:
                    continue  # a job for it runs now, which settles it
                self._in_flight.add(state.id)
                converged = len(self._converged)
            started = time.thread_time()
            self._job(state, Action.RESYNC)
            cost += COST_WEIGHT * (time.thread_time() - started - cost)
            pace = resync_pace(converged, self.resync_interval, cost)
            if pace:
                self._stop.wait(pace)

    def _resync(self, state: LbState) -> bool:
        """Hand the LB's last settled bundles to the driver again, which checks and repairs
        its amphorae; a full apply when they may be out of date. True when it went well."""
        entry = self._converged.get(state.id)
        if entry is None or entry.generation != state.generation or \
                entry.registry != self._registry:
            self._apply(state)
            return state.id not in self._attempts
        confirmed: dict[str, str] = {}
        try:
            for bundle in entry.bundles:
                confirmed[bundle.amphora_id] = self.driver.apply(bundle)
        except Superseded as exc:
            self._converged.pop(state.id, None)
            self._catch_up(state.id, exc.serving)
            return False
        except Exception as exc:  # any driver failure is an outcome, never a crash
            self._failed(state, describe(exc), permanent=isinstance(exc, ConfigRejected))
            return False
        if confirmed != entry.confirmed:
            with self._settling(state.id) as session:
                outcome.applied(session, state.id, state.generation, None, confirmed,
                                self.driver.facts().host)
            self._converged[state.id] = dataclasses.replace(entry, confirmed=confirmed)
        self._attempts.pop(state.id, None)
        self._last_sync[state.id] = self.clock()
        return True

    def _catch_up(self, lb_id: str, serving: int) -> None:
        """An amphora serves a newer generation than this controller rendered. Holding the
        lease (else LeaseLost: a stalled controller whose lease moved on, which must do
        nothing), the database is behind the data plane, e.g. restored from a backup:
        move the LB's generation past what is served, so the next apply renders the
        database's state under a number the amphora takes."""
        with self._settling(lb_id) as session:
            lb = session.get(LoadBalancer, lb_id, with_for_update=True)
            if lb is not None and lb.generation <= serving:
                log.warning("load balancer %s: an amphora serves generation %d, the "
                            "database is at %d; applying its state as generation %d",
                            lb_id, serving, lb.generation, serving + 1)
                lb.generation = serving + 1
        self._attempts.pop(lb_id, None)

    def _prepare(self, lb_id: str) -> str | None:
        """Allocate what the LB's amphorae need (rows, VRRP ids, ports); the reason if the
        registry cannot provide it (an exhausted subnet, say)."""
        try:
            with self._settling(lb_id) as session:
                lb = session.get(LoadBalancer, lb_id)
                if lb is not None and lb.provisioning_status != P.PENDING_DELETE:
                    amphora_prep.prepare(session, lb)
        except (LookupError, amphorae.NoFreeVrid, IpamError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _place(self, lb_id: str) -> tuple[str, bool] | None:
        """Have a driver that chooses hosts place the LB's new amphorae before anything
        is rendered (base.PlacesAmphorae says why); (the reason, whether retrying cannot
        help) when it could not."""
        if not isinstance(self.driver, PlacesAmphorae):
            return None
        try:
            self.driver.place(lb_id)
        except Exception as exc:  # any driver failure is an outcome, never a crash
            return describe(exc), isinstance(exc, ConfigRejected)
        return None

    def _apply(self, state: LbState) -> None:
        self._converged.pop(state.id, None)
        error = self._retire(state.id, before_build=True)
        prepared = self._prepare(state.id) if error is None else error
        placed = self._place(state.id) if prepared is None else None
        with self.db.read() as session:
            lb = session.get(LoadBalancer, state.id)
            if lb is None or lb.provisioning_status == P.PENDING_DELETE:
                # Planned from an older read: the LB is being deleted now, which is the
                # delete job's business. Re-applying would rebuild what is about to go.
                return
            generation = lb.generation
            registry = registry_version(session)
            snap, error = self._snapshot(session, lb)
        error = prepared or error
        result = Driven()
        if error is None and placed is not None:
            error, result.permanent = placed
        if error is None and snap is not None:
            result = self._drive(snap)
            error = result.error
            if result.superseded is not None:
                self._catch_up(state.id, result.superseded)
                return
        if error is None and snap is not None and any(
                a.status == AmphoraStatus.PENDING_DELETE for a in snap.amphorae):
            # The replacements of a pair serve now: remove the old amphorae (standby first)
            # and tell the survivors about their new peers.
            error = self._retire(state.id, before_build=False)
            if error is None:
                again = self._drive_again(state.id)
                again.confirmed = {**result.confirmed, **again.confirmed}
                result, error = again, again.error
        if error is not None and self._failed(
                state._replace(generation=generation), error,
                permanent=result.permanent) is Verdict.RETRY:
            return  # the change stays PENDING_* in the database until the next attempt
        with self._settling(state.id) as session:
            settled = outcome.applied(session, state.id, generation, error,
                                      result.confirmed, self.driver.facts().host)
        self._attempts.pop(state.id, None)
        if settled:
            self._last_sync[state.id] = self.clock()
            if error is None and result.reusable:
                self._converged[state.id] = Converged(
                    generation, registry, result.bundles,
                    {b.amphora_id: result.confirmed[b.amphora_id] for b in result.bundles})

    @staticmethod
    def _snapshot(session: Session,
                  lb: LoadBalancer) -> tuple[LoadBalancerSnapshot | None, str | None]:
        try:
            return snapshots.build(session, lb), None
        except snapshots.SnapshotError as exc:
            return None, str(exc)

    def _drive_again(self, lb_id: str) -> Driven:
        with self.db.read() as session:
            lb = session.get(LoadBalancer, lb_id)
            if lb is None:
                return Driven(reusable=False)
            snap, error = self._snapshot(session, lb)
        if snap is None:
            return Driven(error=error)
        return self._drive(snap)

    def _retire(self, lb_id: str, before_build: bool) -> str | None:
        """Remove the LB's amphorae that failover replaces (PENDING_DELETE): before the
        build for a STANDALONE one, after it for a pair (failover.py says why), in
        failover.removal_order. The reason if the driver could not."""
        with self.db.read() as session:
            doomed = [a for a in amphorae.of_lb(session, lb_id)
                      if a.status == AmphoraStatus.PENDING_DELETE
                      and failover.removed_before_build(a.role) == before_build]
        if not doomed:
            return None
        olds = [failover.Old(a.id, a.role, self._holds_vip(a.id)) for a in doomed]
        for amphora_id in failover.removal_order(olds):
            try:
                self.driver.delete(amphora_id)
            except Exception as exc:  # retried like any failed apply
                return describe(exc)
            with self._settling(lb_id) as session:
                outcome.retired(session, amphora_id)
            self.metrics.amphorae_retired.inc()
            log.info("failover of load balancer %s: removed amphora %s", lb_id, amphora_id)
        return None

    def _holds_vip(self, amphora_id: str) -> bool:
        try:
            return self.driver.observe(amphora_id).vrrp == "MASTER"
        except Exception:  # unknown counts as not holding it: removed first
            return False

    def _drive(self, snap: LoadBalancerSnapshot) -> Driven:
        """Render a bundle for every amphora of the LB and hand each to the driver."""
        started = time.perf_counter()
        out = Driven(reusable=not any(a.status == AmphoraStatus.PENDING_DELETE
                                      for a in snap.amphorae))
        bundles: list[Bundle] = []
        facts = self.driver.facts()
        try:
            snap = self._with_tls(snap)
        except MaterialUnavailable as exc:  # a ref gone or unreadable: retrying cannot help
            out.error, out.permanent = str(exc), True
            return out
        except Exception as exc:  # the key manager's database: retried like any failure
            out.error = f"reading TLS material: {describe(exc)}"
            return out
        for amphora in snap.amphorae:
            try:
                bundle = build_bundle(snap, amphora, self._facts_of(amphora.id, facts))
            except (UnsafeValue, InconsistentSnapshot) as exc:
                self.metrics.rejections.labels("render").inc()
                out.error, out.permanent = str(exc), True
                return out
            try:
                out.confirmed[amphora.id] = self._hand(bundle)
                bundles.append(bundle)
            except Exception as exc:  # any driver failure is an outcome, never a crash
                if amphora.status == AmphoraStatus.PENDING_DELETE:
                    # On its way out (failover): telling it about its new peers is nice to
                    # have; failing to must not keep its replacement from taking over.
                    log.warning("amphora %s being replaced did not take its last "
                                "config: %s", amphora.id, describe(exc))
                    continue
                out.error, out.permanent = describe(exc), isinstance(exc, ConfigRejected)
                if isinstance(exc, Superseded):
                    out.superseded = exc.serving
                return out
        out.bundles = tuple(bundles)
        log.info("applied load balancer %s generation %d to %d amphorae in %.0f ms",
                 snap.lb.id, snap.generation, len(out.confirmed),
                 (time.perf_counter() - started) * 1000)
        return out

    def _facts_of(self, amphora_id: str, facts: HostFacts) -> HostFacts:
        """What the amphora's bundle is rendered for: its own host's facts when the driver
        places amphorae on hosts (which may differ), else the driver's `facts`."""
        if isinstance(self.driver, PlacesAmphorae):
            return self.driver.facts_of(amphora_id)
        return facts

    def _hand(self, bundle: Bundle) -> str:
        """driver.apply(bundle), timed and counted by result."""
        started = time.perf_counter()
        result = "failed"
        try:
            digest = self.driver.apply(bundle)
            result = "ok"
            return digest
        except ConfigRejected:
            result = "rejected"
            raise
        finally:
            self.metrics.applies.labels(result).inc()
            self.metrics.apply_latency.observe(time.perf_counter() - started)

    def _with_tls(self, snap: LoadBalancerSnapshot) -> LoadBalancerSnapshot:
        """The snapshot with its TLS material read from the key manager now, so a bundle
        always carries what the refs hold at the time of the render."""
        return resolve(self.secrets, snap)

    def _delete(self, state: LbState) -> None:
        error = None
        with self.db.read() as session:
            doomed = [a.id for a in amphorae.of_lb(session, state.id, live_only=False)]
        try:
            for amphora_id in doomed:
                self.driver.delete(amphora_id)
        except Exception as exc:  # any driver failure is an outcome, never a crash
            error = describe(exc)
        if error is not None and self._failed(state, error) is Verdict.RETRY:
            return
        with self._settling(state.id) as session:
            outcome.deleted(session, state.id, error)
        self._forget(state.id)
        if error is None:
            self.leases.release([unit(state.id)])

    def _failed(self, state: LbState, reason: str, quiet: bool = False,
                permanent: bool = False) -> Verdict:
        """Record a failed attempt; the verdict says whether to retry later or give up."""
        now = self.clock()
        verdict, record = after_failure(state, self._attempts.get(state.id), reason, now,
                                        self.retry, self.resync_interval, permanent)
        self._attempts[state.id] = record
        self._verdicts[state.id] = verdict
        if quiet:
            pass  # already logged with its traceback
        elif verdict is Verdict.GIVE_UP:
            log.error("load balancer %s generation %d: giving up after %d attempts, the "
                      "pending change goes to ERROR: %s", state.id, state.generation,
                      record.failures, reason)
        else:
            log.warning("load balancer %s generation %d: attempt %d failed, retrying in "
                        "%.0f s: %s", state.id, state.generation, record.failures,
                        record.retry_at - now, reason)
        return verdict

    def clean_orphans(self) -> None:
        """Remove data plane whose amphora is gone from the database (crash during delete)."""
        with self.db.read() as session:
            known = amphorae.live_ids(session)
        for amphora_id in orphans(self.driver.existing(), known):
            log.warning("removing orphaned data plane of amphora %s", amphora_id)
            try:
                self.driver.delete(amphora_id)
            except Exception as exc:  # the next start tries again; serving goes on
                log.error("removing orphaned amphora %s failed: %s", amphora_id,
                          describe(exc))
