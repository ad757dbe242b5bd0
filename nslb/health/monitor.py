"""The health loop: observe the amphorae of every provisioned LB, write operating statuses
and stats.

Observation (socket I/O) happens outside any transaction; the results of one round are
written in a single transaction, and statuses only when they change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.amphora.base import AmphoraDriver, Observation
from nslb.db import stats
from nslb.db.engine import Database
from nslb.db.tables import amphora, load_balancer
from nslb.db.tree import load_tree
from nslb.health.derive import derive
from nslb.model.enums import AmphoraStatus
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import LoadBalancer

log = logging.getLogger(__name__)
# An ERROR LB may still serve its last good config: its operating status stays true too.
OBSERVED = (P.ACTIVE.value, P.PENDING_UPDATE.value, P.ERROR.value)
# Amphorae whose data plane is expected to exist.
SERVING = (AmphoraStatus.ALLOCATED.value, AmphoraStatus.ERROR.value)


def serving(observations: list[Observation]) -> Observation:
    """The observation of the amphora that serves the LB: the one holding the VIP (VRRP
    MASTER) of a pair, else the first one running."""
    running = [o for o in observations if o.running]
    holder = next((o for o in running if o.vrrp == "MASTER"), None)
    if holder is None and any(o.vrrp for o in observations):
        return Observation(running=False)  # a pair with nobody holding the VIP serves nothing
    return holder or (running[0] if running else Observation(running=False))


class HealthMonitor:
    def __init__(self, db: Database, driver: AmphoraDriver, interval: float = 1.0,
                 on_down: Callable[[str], None] = lambda lb_id: None) -> None:
        """`on_down(lb_id)` is told when an LB's data plane is not running (a crashed
        haproxy, a deleted namespace), so the worker can rebuild it now."""
        self.db = db
        self.driver = driver
        self.interval = interval
        self.on_down = on_down
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
        for lb_id, amphora_ids in by_lb.items():
            try:
                observations = [self.driver.observe(a) for a in amphora_ids]
            except Exception:
                log.exception("observing load balancer %s failed", lb_id)
                continue
            observed[lb_id] = serving(observations)
            if not all(o.running and o.vrrp != "STOPPED" for o in observations):
                self.on_down(lb_id)  # rebuild what is down (a standby too)
        if observed:
            with self.db.write() as session:
                for lb_id, obs in observed.items():
                    self._store(session, lb_id, obs)

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
