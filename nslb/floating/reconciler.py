"""The floating IP reconciler: one thread that makes this host's routers match the database.

Level-triggered, like the worker but much simpler: each round reads what every router
should be, deletes routers nobody needs, applies the routers that differ from what they
last confirmed (and, every `resync_interval`, all of them, which repairs whatever broke
underneath), then settles the floating IPs' statuses. A round runs when the API kicks,
every `resync_interval`, and as soon as the one-query check that runs every second finds a
floating IP whose port went away (an LB deletion releases its VIP port without the API).
All intent lives in the database and every step is idempotent, so a kill -9 at any line is
recovered by the next round:

- a router whose floating IPs all went is deleted from the host first, and only then are
  its row and its gateway port released (drop_unused_routers skips routers still present);
- a floating IP whose port was deleted, or whose port lost the fixed address, is
  disassociated, as Neutron does when a port goes;
- a router directory under the state dir that no row asks for (a crash mid-delete, or a
  row deleted while nslb was down) is removed with its namespace.

A failing router is retried at each round (a kick, or every `resync_interval`); its
floating IPs show ERROR until it applies.

Several controllers on one database: only the holder of the "floating" lease
(db/leases.py) reconciles. Another would find the holder's routers missing from its own
host and release their rows. Routers of remote hosts are left for the agents' work
(issue 10).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nslb.db import floating as repo
from nslb.db.engine import Database
from nslb.db.leases import Leases, SoloLeases
from nslb.db.unchanged import UnlessWritten
from nslb.floating.desired import Wanted, wanted_routers
from nslb.floating.routers import RouterDriver, RouterError

log = logging.getLogger(__name__)
UNIT = "floating"  # the lease of the one reconciler among several controllers


@dataclass
class Round:
    """What one round did (for logs and tests)."""

    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    disassociated: list[str] = field(default_factory=list)


class FloatingReconciler:
    def __init__(self, db: Database, routers: RouterDriver, *, resync_interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 leases: Leases | None = None) -> None:
        self.db = db
        self.leases: Leases = leases or SoloLeases()
        self.routers = routers
        self.resync_interval = resync_interval
        self.clock = clock
        self._last_full: float | None = None
        # read every second; answered again only after a write (db/unchanged.py)
        self._orphaned: UnlessWritten[bool] = UnlessWritten(db)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Something changed in the database: reconcile now."""
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nslb-floating", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reconciling; routers keep forwarding."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        kicked = True
        while not self._stop.is_set():
            try:
                if not self.leases.claim([UNIT]):
                    self._last_full = None  # whoever holds it reconciles; full when ours
                elif kicked or self._due():
                    self.run_once()
            except Exception:  # the database or a bug: the next round retries
                log.exception("floating IP reconcile round failed")
            kicked = self._wake.wait(timeout=1.0)
            self._wake.clear()

    def _due(self) -> bool:
        """A resync is due, or a floating IP lost its port (a cheap read)."""
        if self._last_full is None or self.clock() - self._last_full >= self.resync_interval:
            return True
        return self._orphaned.get(self._has_orphans)

    def _has_orphans(self) -> bool:
        with self.db.read() as session:
            return bool(repo.orphans(session))

    def run_once(self, full: bool | None = None) -> Round:
        """One round. `full` re-applies every router (default: when resync is due)."""
        now = self.clock()
        if full is None:
            full = self._last_full is None or now - self._last_full >= self.resync_interval
        done = Round()
        with self.db.read() as session:  # an idle round only reads
            orphaned = bool(repo.orphans(session))
        if orphaned:
            with self.db.write() as session:
                done.disassociated = repo.disassociate_orphans(session)
        with self.db.read() as session:
            wanted = wanted_routers(session)
        keep = {w.router_id for w in wanted if w.spec is not None}
        for router_id in sorted(self.routers.existing() - keep):
            self.routers.delete(router_id)
            done.deleted.append(router_id)
        present = self.routers.existing()
        with self.db.read() as session:
            unused = bool(repo.unused_routers(session, present))
        if unused:
            with self.db.write() as session:
                done.dropped = repo.drop_unused_routers(session, present)
        for want in wanted:
            self._converge(want, full, done)
        if full:
            self._last_full = now
        if done.applied or done.deleted or done.failed or done.dropped:
            log.info("floating IP routers: applied %s, deleted %s, failed %s, released %s",
                     done.applied, done.deleted, sorted(done.failed), done.dropped)
        return done

    def _converge(self, want: Wanted, full: bool, done: Round) -> None:
        status = repo.ACTIVE
        if want.spec is None:
            done.failed[want.router_id] = want.problem
            status = repo.ERROR
        elif full or not self.routers.converged(want.spec):
            try:
                self.routers.apply(want.spec)
                done.applied.append(want.router_id)
            except (RouterError, OSError) as exc:
                log.warning("floating IP router %s: %s", want.router_id, exc)
                done.failed[want.router_id] = str(exc)
                status = repo.ERROR
        if any(f.status != status for f in want.floating_ips):
            with self.db.write() as session:
                for fip in want.floating_ips:
                    repo.set_status(session, fip, status)
