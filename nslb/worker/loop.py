"""The reconcile loop: the only place where the worker does I/O.

One planner thread reads the database, asks `decide` what each LB needs, and hands the work
to a small pool of threads, never two jobs for the same LB at once. Every step is
idempotent and all intent lives in the database, so a kill -9 at any line is recovered by
simply running again: PENDING_* objects are picked up where they were left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import select

from nslb.amphora.base import AmphoraDriver, ApplyError
from nslb.db import snapshots
from nslb.db.engine import Database
from nslb.db.tables import health_monitor, listener, load_balancer, member, pool
from nslb.model.resources import LoadBalancer
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.worker import outcome
from nslb.worker.decide import Action, LbState, decide, orphans

log = logging.getLogger(__name__)
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


class Worker:
    def __init__(self, db: Database, driver: AmphoraDriver, *, resync_interval: float = 10.0,
                 threads: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.driver = driver
        self.resync_interval = resync_interval
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._last_sync: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nslb-apply")
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def kick(self) -> None:
        """Something changed in the database: plan again now."""
        self._wake.set()

    def resync(self, lb_id: str) -> None:
        """Re-apply this LB now rather than at its next periodic resync."""
        self._last_sync.pop(lb_id, None)
        self._wake.set()

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

    def plan(self) -> list[tuple[str, Action]]:
        now = self.clock()
        out: list[tuple[str, Action]] = []
        for state in self.states():
            action = decide(state, self._last_sync.get(state.id), now, self.resync_interval)
            if action is not Action.NOTHING:
                out.append((state.id, action))
        return out

    def plan_and_submit(self) -> list[Future[None]]:
        futures = []
        for lb_id, action in self.plan():
            with self._lock:
                if lb_id in self._in_flight:
                    continue
                self._in_flight.add(lb_id)
            futures.append(self._pool.submit(self._job, lb_id, action))
        return futures

    def drain(self, rounds: int = 50) -> None:
        """Run until nothing is pending (tests and one-shot tools)."""
        for _ in range(rounds):
            for future in self.plan_and_submit():
                future.result()
            if not any(_dirty(s) for s in self.states()):
                return
        raise RuntimeError("the worker did not converge")

    # --- jobs --------------------------------------------------------------------------

    def _job(self, lb_id: str, action: Action) -> None:
        try:
            if action is Action.DELETE:
                self._delete(lb_id)
            else:
                self._apply(lb_id)
        except Exception:
            log.exception("job %s on load balancer %s failed", action, lb_id)
        finally:
            with self._lock:
                self._in_flight.discard(lb_id)
            self._wake.set()

    def _apply(self, lb_id: str) -> None:
        with self.db.read() as session:
            lb = session.get(LoadBalancer, lb_id)
            if lb is None or lb.provisioning_status == "PENDING_DELETE":
                # Planned from an older read: the LB is being deleted now, which is the
                # delete job's business. Re-applying would rebuild what is about to go.
                return
            generation = lb.generation
            try:
                snap: LoadBalancerSnapshot | None = snapshots.build(session, lb)
                error = None
            except snapshots.SnapshotError as exc:
                snap, error = None, str(exc)
        if snap is not None:
            error = self._drive(snap)
        with self.db.write() as session:
            if outcome.applied(session, lb_id, generation, error) and not error:
                self._last_sync[lb_id] = self.clock()

    def _drive(self, snap: LoadBalancerSnapshot) -> str | None:
        """Hand the snapshot to the driver; the error text if it refused."""
        started = time.perf_counter()
        error = None
        try:
            self.driver.apply(snap)
        except ApplyError as exc:
            error = str(exc)
        elapsed = (time.perf_counter() - started) * 1000
        if error:
            log.error("load balancer %s generation %d failed to apply: %s", snap.lb.id,
                      snap.generation, error)
        else:
            log.info("applied load balancer %s generation %d in %.0f ms", snap.lb.id,
                     snap.generation, elapsed)
        return error

    def _delete(self, lb_id: str) -> None:
        error = None
        try:
            self.driver.delete(lb_id)
        except ApplyError as exc:
            error = str(exc)
            log.error("deleting load balancer %s failed: %s", lb_id, error)
        with self.db.write() as session:
            outcome.deleted(session, lb_id, error)
        self._last_sync.pop(lb_id, None)

    def clean_orphans(self) -> None:
        """Remove data plane whose LB is gone from the database (crash during delete)."""
        with self.db.read() as session:
            known = set(session.scalars(select(load_balancer.c.id)))
        for lb_id in orphans(self.driver.existing(), known):
            log.warning("removing orphaned data plane of load balancer %s", lb_id)
            self.driver.delete(lb_id)


def _dirty(state: LbState) -> bool:
    return (state.provisioning_status in PENDING or state.child_pending
            or state.generation != state.applied_generation)
