"""The health loop: observe the amphorae of every provisioned LB, write operating statuses
and stats.

Observation (socket I/O) happens outside any transaction; the results of one round are
written in a single transaction, and statuses only when they change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.amphora.base import AmphoraDriver, Observation
from nslb.db import amphorae, stats
from nslb.db.engine import Database
from nslb.db.tables import amphora, load_balancer
from nslb.db.tree import load_tree
from nslb.health import autofailover
from nslb.health.autofailover import AutoFailover
from nslb.health.derive import derive
from nslb.model.enums import AmphoraStatus
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import Amphora, LoadBalancer

log = logging.getLogger(__name__)
# An ERROR LB may still serve its last good config: its operating status stays true too.
OBSERVED = (P.ACTIVE.value, P.PENDING_UPDATE.value, P.ERROR.value)
# Amphorae whose data plane is expected to exist.
SERVING = (AmphoraStatus.ALLOCATED.value, AmphoraStatus.ERROR.value,
           AmphoraStatus.FAILOVER_STOPPED.value, AmphoraStatus.PENDING_DELETE.value)


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


class HealthMonitor:
    def __init__(self, db: Database, driver: AmphoraDriver, interval: float = 1.0,
                 on_down: Callable[[str], None] = lambda lb_id: None,
                 failover: AutoFailover | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`on_down(lb_id)` is told when an LB's data plane is not running (a crashed
        haproxy, a deleted namespace), so the worker can rebuild it now. `failover`: when
        an amphora that repair cannot fix is replaced automatically (None: never)."""
        self.db = db
        self.driver = driver
        self.interval = interval
        self.on_down = on_down
        self.failover = failover
        self.clock = clock
        self._unhealthy_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nslb-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("health round failed")

    def run_once(self) -> None:
        with self.db.read() as session:
            rows = session.execute(
                select(amphora.c.loadbalancer_id, amphora.c.id)
                .join(load_balancer, load_balancer.c.id == amphora.c.loadbalancer_id)
                .where(load_balancer.c.provisioning_status.in_(OBSERVED),
                       amphora.c.status.in_(SERVING))
                .order_by(amphora.c.loadbalancer_id, amphora.c.created_at)).all()
        by_lb: dict[str, list[str]] = {}
        for lb_id, amphora_id in rows:
            by_lb.setdefault(lb_id, []).append(amphora_id)
        observed: dict[str, Observation] = {}
        now, seen = self.clock(), set()
        for lb_id, amphora_ids in by_lb.items():
            try:
                observations = [self.driver.observe(a) for a in amphora_ids]
            except Exception:
                log.exception("observing load balancer %s failed", lb_id)
                continue
            observed[lb_id] = serving(observations)
            for amphora_id, observation in zip(amphora_ids, observations, strict=True):
                seen.add(amphora_id)
                if healthy(observation):
                    self._unhealthy_since.pop(amphora_id, None)
                else:
                    self._unhealthy_since.setdefault(amphora_id, now)
            if not all(o.running and o.vrrp != "STOPPED" for o in observations):
                self.on_down(lb_id)  # rebuild what is down (a standby too)
        for gone in set(self._unhealthy_since) - seen:
            del self._unhealthy_since[gone]
        if self.failover is not None and self._unhealthy_since:
            self._fail_over(now)
        if observed:
            with self.db.write() as session:
                for lb_id, obs in observed.items():
                    self._store(session, lb_id, obs)

    def _fail_over(self, now: float) -> None:
        """Replace the amphorae that stayed unhealthy too long (autofailover.plan)."""
        assert self.failover is not None
        with self.db.write() as session:
            rows = session.execute(select(amphora.c.id, amphora.c.status)).all()
            statuses = {r.id: r.status for r in rows}
            busy = sum(s == AmphoraStatus.PENDING_DELETE for s in statuses.values())
            replace, stop = autofailover.plan(self._unhealthy_since, statuses, busy, now,
                                              self.failover)
            for amphora_id in stop:
                row = session.get(Amphora, amphora_id)
                if row is not None:
                    row.status = AmphoraStatus.FAILOVER_STOPPED
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
                amphorae.request_failover(session, [row])
                started.append(row)
        for row in started:
            log.warning("amphora %s of load balancer %s unhealthy for %.0f s: failing over",
                        row.id, row.loadbalancer_id, now - self._unhealthy_since[row.id])
            self._unhealthy_since.pop(row.id, None)
            self.on_down(row.loadbalancer_id or "")

    @staticmethod
    def _store(session: Session, lb_id: str, obs: Observation) -> None:
        lb = session.get(LoadBalancer, lb_id)
        if lb is None or lb.provisioning_status not in OBSERVED:
            return
        t = load_tree(session, lb)
        statuses = derive(t, obs)
        for obj in t.everything():
            new = statuses.get(obj.id)
            if new is not None and obj.operating_status != new:
                obj.operating_status = new
        known = {li.id for li in t.listeners}
        for listener_id, counters in obs.counters.items():
            if listener_id in known:
                stats.record(session, lb_id, listener_id, asdict(counters), obs.process_start)
