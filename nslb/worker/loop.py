"""The reconcile loop: the only place where the worker does I/O.

One planner thread reads the database, asks `decide` what each LB needs, and hands the work
to a small pool of threads, never two jobs for the same LB at once. Every step is
idempotent and all intent lives in the database, so a kill -9 at any line is recovered by
simply running again: PENDING_* objects are picked up where they were left.

Whatever a driver raises is caught: the failed attempt is recorded per LB (in memory),
`decide` holds the LB back until its backoff has passed and says when to give up, and only
then does the pending change go to ERROR, with the reason in the log.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.amphora.base import AmphoraDriver, ApplyError, ConfigRejected
from nslb.db import amphorae, snapshots
from nslb.db.engine import Database
from nslb.db.tables import health_monitor, listener, load_balancer, member, pool
from nslb.model.enums import AmphoraStatus
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.ipam import IpamError
from nslb.model.resources import LoadBalancer
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.status import PENDING
from nslb.render.bundle import InconsistentSnapshot, build_bundle
from nslb.render.values import UnsafeValue
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
)

log = logging.getLogger(__name__)


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
                 retry: RetryPolicy | None = None) -> None:
        self.db = db
        self.driver = driver
        self.resync_interval = resync_interval
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._last_sync: dict[str, float] = {}
        # Failed attempts per LB; only the job of that LB writes its entry.
        self._attempts: dict[str, Attempts] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nslb-apply")
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def kick(self) -> None:
        """Something changed in the database: plan again now."""
        self._wake.set()

    def resync(self, lb_id: str) -> None:
        """Re-apply this LB now rather than at its next periodic resync (a backoff after a
        failed attempt still holds: the health loop calls this every round while an LB is
        down, which must not turn into a retry storm)."""
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

    def stop(self, timeout: float = 10.0) -> None:
        """Stop planning and wait for running jobs; the data plane keeps serving."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            try:
                self.plan_and_submit()
            except Exception:  # keep the loop alive; the next round retries
                log.exception("worker planning failed")

    # --- planning ----------------------------------------------------------------------

    def states(self) -> list[LbState]:
        with self.db.read() as session:
            pending: set[str] = set()
            for table in (listener, pool, member, health_monitor):
                stmt = select(table.c.loadbalancer_id).where(
                    table.c.provisioning_status.in_(PENDING)).distinct()
                pending.update(session.scalars(stmt))
            rows = session.execute(select(
                load_balancer.c.id, load_balancer.c.provisioning_status,
                load_balancer.c.generation, load_balancer.c.applied_generation))
            return [LbState(r.id, r.provisioning_status, r.generation, r.applied_generation,
                            r.id in pending) for r in rows]

    def plan(self, fast_forward: bool = False) -> list[tuple[LbState, Action]]:
        """What every LB needs now. `fast_forward` treats pending backoffs as elapsed
        (drain() for tests and one-shot tools, which must not sleep through them)."""
        now = self.clock()
        out: list[tuple[LbState, Action]] = []
        states = self.states()
        for gone in set(self._attempts) - {s.id for s in states}:
            self._attempts.pop(gone, None)
        for state in states:
            record = self._attempts.get(state.id)
            at = max(now, record.retry_at) if fast_forward and record is not None else now
            action = decide(state, self._last_sync.get(state.id), at, self.resync_interval,
                            record)
            if action is not Action.NOTHING:
                out.append((state, action))
        return out

    def plan_and_submit(self, fast_forward: bool = False) -> list[Future[None]]:
        futures = []
        for state, action in self.plan(fast_forward):
            with self._lock:
                if state.id in self._in_flight:
                    continue
                self._in_flight.add(state.id)
            futures.append(self._pool.submit(self._job, state, action))
        return futures

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

    def _job(self, state: LbState, action: Action) -> None:
        try:
            if action is Action.DELETE:
                self._delete(state)
            else:
                self._apply(state)
        except Exception as exc:  # the database or a bug: back off like any failure
            log.exception("job %s on load balancer %s failed", action, state.id)
            self._failed(state, describe(exc), quiet=True)
        finally:
            with self._lock:
                self._in_flight.discard(state.id)
            self._wake.set()

    def _prepare(self, lb_id: str) -> str | None:
        """Allocate what the LB's amphorae need (rows, VRRP ids, ports); the reason if the
        registry cannot provide it (an exhausted subnet, say)."""
        try:
            with self.db.write() as session:
                lb = session.get(LoadBalancer, lb_id)
                if lb is not None and lb.provisioning_status != P.PENDING_DELETE:
                    amphora_prep.prepare(session, lb)
        except (LookupError, amphorae.NoFreeVrid, IpamError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def _apply(self, state: LbState) -> None:
        error = self._retire(state.id, before_build=True)
        prepared = self._prepare(state.id) if error is None else error
        with self.db.read() as session:
            lb = session.get(LoadBalancer, state.id)
            if lb is None or lb.provisioning_status == P.PENDING_DELETE:
                # Planned from an older read: the LB is being deleted now, which is the
                # delete job's business. Re-applying would rebuild what is about to go.
                return
            generation = lb.generation
            snap, error = self._snapshot(session, lb)
        error = prepared or error
        permanent, confirmed = False, dict[str, str]()
        if error is None and snap is not None:
            error, permanent, confirmed = self._drive(snap)
        if error is None and snap is not None and any(
                a.status == AmphoraStatus.PENDING_DELETE for a in snap.amphorae):
            # The replacements of a pair serve now: remove the old amphorae (standby first)
            # and tell the survivors about their new peers.
            error = self._retire(state.id, before_build=False)
            if error is None:
                error, permanent, more = self._drive_again(state.id)
                confirmed.update(more)
        if error is not None and self._failed(
                dataclasses.replace(state, generation=generation), error,
                permanent=permanent) is Verdict.RETRY:
            return  # the change stays PENDING_* in the database until the next attempt
        with self.db.write() as session:
            settled = outcome.applied(session, state.id, generation, error, confirmed,
                                      self.driver.facts().host)
        self._attempts.pop(state.id, None)
        if settled:
            self._last_sync[state.id] = self.clock()

    @staticmethod
    def _snapshot(session: Session,
                  lb: LoadBalancer) -> tuple[LoadBalancerSnapshot | None, str | None]:
        try:
            return snapshots.build(session, lb), None
        except snapshots.SnapshotError as exc:
            return None, str(exc)

    def _drive_again(self, lb_id: str) -> tuple[str | None, bool, dict[str, str]]:
        with self.db.read() as session:
            lb = session.get(LoadBalancer, lb_id)
            if lb is None:
                return None, False, {}
            snap, error = self._snapshot(session, lb)
        if snap is None:
            return error, False, {}
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
            with self.db.write() as session:
                outcome.retired(session, amphora_id)
            log.info("failover of load balancer %s: removed amphora %s", lb_id, amphora_id)
        return None

    def _holds_vip(self, amphora_id: str) -> bool:
        try:
            return self.driver.observe(amphora_id).vrrp == "MASTER"
        except Exception:  # unknown counts as not holding it: removed first
            return False

    def _drive(self, snap: LoadBalancerSnapshot) -> tuple[str | None, bool, dict[str, str]]:
        """Render a bundle for every amphora of the LB and hand each to the driver:
        (the reason if anything went wrong, whether retrying cannot help because the config
        itself was refused, amphora id -> the bundle hash its data plane confirmed)."""
        started = time.perf_counter()
        confirmed: dict[str, str] = {}
        facts = self.driver.facts()
        for amphora in snap.amphorae:
            try:
                bundle = build_bundle(snap, amphora, facts)
            except (UnsafeValue, InconsistentSnapshot) as exc:
                return str(exc), True, confirmed
            try:
                confirmed[amphora.id] = self.driver.apply(bundle)
            except Exception as exc:  # any driver failure is an outcome, never a crash
                if amphora.status == AmphoraStatus.PENDING_DELETE:
                    # On its way out (failover): telling it about its new peers is nice to
                    # have; failing to must not keep its replacement from taking over.
                    log.warning("amphora %s being replaced did not take its last "
                                "config: %s", amphora.id, describe(exc))
                    continue
                return describe(exc), isinstance(exc, ConfigRejected), confirmed
        log.info("applied load balancer %s generation %d to %d amphorae in %.0f ms",
                 snap.lb.id, snap.generation, len(confirmed),
                 (time.perf_counter() - started) * 1000)
        return None, False, confirmed

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
        with self.db.write() as session:
            outcome.deleted(session, state.id, error)
        self._attempts.pop(state.id, None)
        self._last_sync.pop(state.id, None)

    def _failed(self, state: LbState, reason: str, quiet: bool = False,
                permanent: bool = False) -> Verdict:
        """Record a failed attempt; the verdict says whether to retry later or give up."""
        now = self.clock()
        verdict, record = after_failure(state, self._attempts.get(state.id), reason, now,
                                        self.retry, self.resync_interval, permanent)
        self._attempts[state.id] = record
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
