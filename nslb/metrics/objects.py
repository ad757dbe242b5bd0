"""Objects by status: how many load balancers, listeners, pools, members, health
monitors, L7 policies and rules are in each (provisioning, operating) status, and
amphorae by status and role.

Read as aggregate counts (one `GROUP BY` per table: the database returns a handful of
rows, no object is loaded) and kept for `ttl` seconds, so scrapes from several Prometheus
servers, or a dashboard refreshing every second, cost one round of queries per `ttl` at
most. A failed read is logged and the last counts are served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from nslb.db.engine import Database
from nslb.db.tables import (
    amphora,
    health_monitor,
    l7policy,
    l7rule,
    listener,
    load_balancer,
    member,
    pool,
)

log = logging.getLogger(__name__)
# kind label -> table; every one has provisioning_status and operating_status columns
KINDS: dict[str, Any] = {"loadbalancer": load_balancer, "listener": listener, "pool": pool,
                         "member": member, "healthmonitor": health_monitor,
                         "l7policy": l7policy, "l7rule": l7rule}
DEFAULT_TTL = 5.0

Counts = tuple[list[tuple[str, str, str, int]], list[tuple[str, str, int]]]


def read_counts(db: Database) -> Counts:
    """(kind, provisioning status, operating status, count) rows and (amphora status,
    role, count) rows."""
    objects: list[tuple[str, str, str, int]] = []
    with db.read() as session:
        for kind, table in KINDS.items():
            stmt = (select(table.c.provisioning_status, table.c.operating_status, func.count())
                    .group_by(table.c.provisioning_status, table.c.operating_status))
            objects += [(kind, p, o, int(n)) for p, o, n in session.execute(stmt)]
        stmt = (select(amphora.c.status, amphora.c.role, func.count())
                .group_by(amphora.c.status, amphora.c.role))
        amphorae = [(s, r or "", int(n)) for s, r, n in session.execute(stmt)]
    return objects, amphorae


class ObjectCounts:
    """Prometheus collector of the counts, cached for `ttl` seconds."""

    def __init__(self, db: Database, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self.reads = 0  # how often the database was asked (for tests and the bench)
        self._counts: Counts = ([], [])
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def counts(self) -> Counts:
        with self._lock:  # concurrent scrapes wait for one read instead of making theirs
            if self.clock() - self._read_at >= self.ttl:
                try:
                    self._counts = read_counts(self.db)
                    self.reads += 1
                except Exception:  # the database is away: serve what we had
                    log.exception("reading object counts for /metrics failed")
                self._read_at = self.clock()
            return self._counts

    def describe(self) -> Iterator[Metric]:
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        objects, amphorae = self.counts()
        by_status, amphora_family = _families()
        for kind, provisioning, operating, count in objects:
            by_status.add_metric([kind, provisioning, operating], count)
        for status, role, count in amphorae:
            amphora_family.add_metric([status, role], count)
        yield by_status
        yield amphora_family


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (GaugeMetricFamily("nslb_objects", "Objects by kind, provisioning status and "
                              "operating status",
                              labels=["kind", "provisioning_status", "operating_status"]),
            GaugeMetricFamily("nslb_amphorae", "Amphorae by status and role",
                              labels=["status", "role"]))
