"""Every instrument nslb exports, on a registry of its own.

One `Metrics` per service (not prometheus_client's global registry): the tests build many
services in one process, and each must count only its own events. Components take the
instance they report to; one made without it gets a private `Metrics()` nobody scrapes.

Label values are always drawn from small fixed sets (outcomes, actions, statuses) or from
Octavia ids of objects that exist; nothing a client sends becomes a label value (the API
middleware maps paths to route templates and unknown methods to "other").
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from nslb import __version__

API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
APPLY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ROUND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# No `<counter>_created` series: they double what a scrape carries, and nothing here
# needs them (prometheus_client's switch is process-wide; nslb owns its process).
disable_created_metrics()


class Metrics:
    """The service's instruments. Counters named here without `_total` are exported with
    it (prometheus_client appends the suffix)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build = Info("nslb_build", "nslb version", registry=r)
        self.build.info({"version": __version__})
        # --- API -------------------------------------------------------------------------
        self.api_requests = Counter(
            "nslb_api_requests", "API requests answered, by route template, status and "
            "the caller's project", ["method", "route", "status", "project_id"], registry=r)
        self.api_latency = Histogram(
            "nslb_api_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template",
            ["method", "route"], buckets=API_BUCKETS, registry=r)
        self.api_in_flight = Gauge("nslb_api_requests_in_flight",
                                   "API requests being answered now", registry=r)
        # --- worker ----------------------------------------------------------------------
        self.queue_depth = Gauge(
            "nslb_worker_queue_depth",
            "Load balancers waiting for the worker: changes and deletions waiting for a "
            "thread (lane=changes), converged load balancers due for their periodic "
            "check (lane=resync)", ["lane"], registry=r)
        self.jobs_running = Gauge("nslb_worker_jobs_running",
                                  "Worker jobs running now", registry=r)
        self.jobs = Counter(
            "nslb_worker_jobs", "Worker jobs done, by action (apply, resync, delete) and "
            "result (ok; retry: failed, tried again later; error: settled as ERROR)",
            ["action", "result"], registry=r)
        self.job_latency = Histogram(
            "nslb_worker_reconcile_duration_seconds",
            "Time one worker job took to converge a load balancer, by action",
            ["action"], buckets=APPLY_BUCKETS, registry=r)
        self.applies = Counter(
            "nslb_amphora_applies", "Bundles handed to the amphora driver by full applies, "
            "by result (ok, failed, rejected: the configuration itself was refused)",
            ["result"], registry=r)
        self.apply_latency = Histogram(
            "nslb_amphora_apply_duration_seconds",
            "Time the amphora driver took to make one amphora serve a bundle (full applies)",
            buckets=APPLY_BUCKETS, registry=r)
        self.rejections = Counter(
            "nslb_config_rejections", "Configurations refused before they could serve, by "
            "checker (render: the renderer's value guard; haproxy: haproxy -c; "
            "keepalived: keepalived -t)", ["checker"], registry=r)
        # --- namespace driver ------------------------------------------------------------
        self.haproxy_starts = Counter(
            "nslb_haproxy_starts", "haproxy processes started (new amphorae and repairs)",
            registry=r)
        self.reloads = Counter(
            "nslb_haproxy_reloads", "haproxy reloads through the master CLI, by result "
            "(failed: rolled back to the last known good config)", ["result"], registry=r)
        self.runtime_changes = Counter(
            "nslb_haproxy_runtime_changes", "Changes applied through haproxy's runtime API "
            "(weights, admin states) instead of a reload", registry=r)
        self.rollbacks = Counter(
            "nslb_haproxy_rollbacks", "Rollbacks to the last known good config after a "
            "failed reload", registry=r)
        # --- failover --------------------------------------------------------------------
        self.failovers = Counter(
            "nslb_failovers", "Amphora failovers requested, by trigger (health: the health "
            "loop replaced an amphora repair could not fix; api: an operator's failover "
            "call)", ["trigger"], registry=r)
        self.failovers_stopped = Counter(
            "nslb_failovers_stopped", "Amphorae marked FAILOVER_STOPPED because more were "
            "stale at once than the failover threshold", registry=r)
        self.amphorae_retired = Counter(
            "nslb_amphorae_retired", "Amphorae removed by the worker after their "
            "replacement took over (failovers completed)", registry=r)
        # --- health ----------------------------------------------------------------------
        self.health_rounds = Counter("nslb_health_rounds", "Health rounds run", registry=r)
        self.health_latency = Histogram(
            "nslb_health_round_duration_seconds", "Time one health round took (observe "
            "every amphora, derive and write what changed)", buckets=ROUND_BUCKETS,
            registry=r)
        self.health_amphorae = Gauge("nslb_health_amphorae_observed",
                                     "Amphorae observed by the last health round", registry=r)
        self.observe_failures = Counter(
            "nslb_health_observe_failures", "Observations of an amphora that failed",
            registry=r)
        self.status_changes = Counter(
            "nslb_health_status_changes", "Operating statuses the health loop changed",
            registry=r)
        self.repairs = Counter(
            "nslb_health_repairs_requested", "Load balancers the health loop asked the "
            "worker to repair because an amphora was not serving", registry=r)
        self._zero_fixed_labels()
        # process_*, python_info and python_gc_*, as on prometheus_client's default
        # registry (each constructor registers itself)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    def _zero_fixed_labels(self) -> None:
        """Series whose labels come from a fixed set exist from the start at 0, so a
        first event shows as an increase (rate() needs two samples) and dashboards and
        alerts find them before anything happened."""
        for lane in ("changes", "resync"):
            self.queue_depth.labels(lane)
        for result in ("ok", "failed", "rejected"):
            self.applies.labels(result)
        for checker in ("render", "haproxy", "keepalived"):
            self.rejections.labels(checker)
        for result in ("ok", "failed"):
            self.reloads.labels(result)
        for trigger in ("health", "api"):
            self.failovers.labels(trigger)

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def families(self) -> Iterable[Metric]:
        return self.registry.collect()


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count"), "info": ("_info",),
            "gauge": ("",), "unknown": ("",), "stateset": ("",)}


def exported_names(families: Iterable[Metric]) -> set[str]:
    """The sample names a scrape can hold for these families (a counter `x` is scraped
    as `x_total`, a histogram as `x_bucket`, `x_sum`, `x_count`)."""
    names: set[str] = set()
    for family in families:
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names
