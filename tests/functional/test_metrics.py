"""Prometheus metrics of the assembled service (nslb.service.build with the noop driver):
what one scrape holds after API calls, worker jobs and a health round; the listener that
serves them; metrics turned off; the object counts' cache; and the Grafana dashboard in
the repository, whose every expression must name metrics and labels a scrape holds."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PHYSNETS, PROJECT
from octavia_helpers import LB_URL, vip_subnet
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from nslb.amphora.base import ListenerCounters, Observation
from nslb.amphora.noop import NoopDriver
from nslb.config import ConfigError, Settings
from nslb.metrics import server as metrics_server
from nslb.metrics.objects import ObjectCounts
from nslb.metrics.registry import Metrics, exported_names
from nslb.service import Service, build

DASHBOARD = Path(__file__).parents[2] / "dashboards" / "nslb.json"
# labels Prometheus adds to every series of a target; dashboards may select on them
TARGET_LABELS = {"job", "instance"}


class TrafficDriver(NoopDriver):
    """The noop data plane, reporting the listener counters a test sets."""

    def __init__(self) -> None:
        super().__init__()
        self.traffic: dict[str, ListenerCounters] = {}

    def observe(self, amphora_id: str) -> Observation:
        obs = super().observe(amphora_id)
        for listener_id in obs.counters:
            if listener_id in self.traffic:
                obs.counters[listener_id] = self.traffic[listener_id]
        return obs


@dataclass
class Env:
    service: Service
    driver: TrafficDriver
    client: TestClient


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), amphora_driver="noop",
                        auth="noauth", metrics_listen="127.0.0.1:0")
    driver = TrafficDriver()
    service = build(settings, driver)
    with TestClient(service.app, headers={"X-Project-Id": PROJECT}) as client:
        yield Env(service, driver, client)
    service.worker.stop()
    service.db.dispose()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: Metrics) -> tuple[Samples, dict[str, set[str]]]:
    """(name, sorted labels) -> value, and sample name -> the label names it carries."""
    text = generate_latest(metrics.registry).decode()
    samples: Samples = {}
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
            labels.setdefault(s.name, set()).update(s.labels)
    return samples, labels


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


def _tree_create(env: Env) -> dict[str, Any]:
    subnet = vip_subnet(env.client)
    body = {"loadbalancer": {"vip_subnet_id": subnet["id"], "listeners": [
        {"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}},
        {"protocol": "PROMETHEUS", "protocol_port": 9100}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": "10.0.0.51", "protocol_port": 8080},
                               {"address": "10.0.0.52", "protocol_port": 8080,
                                "admin_state_up": False}]}]}}
    resp = env.client.post(LB_URL, json=body)
    assert resp.status_code == 201, resp.text
    env.service.worker.drain()
    status = env.client.get(f"{LB_URL}/{resp.json()['loadbalancer']['id']}/status")
    return dict(status.json()["statuses"]["loadbalancer"])


def _run(env: Env) -> tuple[dict[str, Any], Samples, dict[str, set[str]]]:
    """An LB through the API, traffic on its HTTP listener, a health round, a scrape."""
    tree = _tree_create(env)
    http = next(li for li in tree["listeners"] if li["pools"])
    env.driver.traffic[http["id"]] = ListenerCounters(
        requests=42, total_connections=40, bytes_in=4200, bytes_out=84000,
        active_connections=3, request_errors=1, responses_5xx=2)
    env.service.health.run_once()
    assert env.client.get(f"{LB_URL}/{'0' * 8}-0000-4000-8000-{'0' * 12}").status_code == 404
    samples, labels = scrape(env.service.metrics)
    return tree, samples, labels


def test_one_scrape_names_octavia_objects_and_the_project(env: Env) -> None:
    tree, samples, _ = _run(env)
    lb_id = tree["id"]
    http = next(li for li in tree["listeners"] if li["pools"])
    metrics = next(li for li in tree["listeners"] if not li["pools"])
    pool = http["pools"][0]
    ids = {"loadbalancer_id": lb_id, "project_id": PROJECT}
    on_http = {**ids, "listener_id": http["id"]}
    assert value(samples, "nslb_loadbalancer_up", **ids) == 1
    assert value(samples, "nslb_listener_requests_total", **on_http) == 42
    assert value(samples, "nslb_listener_connections_total", **on_http) == 40
    assert value(samples, "nslb_listener_bytes_out_total", **on_http) == 84000
    assert value(samples, "nslb_listener_request_errors_total", **on_http) == 1
    assert value(samples, "nslb_listener_responses_5xx_total", **on_http) == 2
    assert value(samples, "nslb_listener_active_connections", **on_http) == 3
    assert value(samples, "nslb_listener_up", **ids, listener_id=metrics["id"]) == 1
    assert value(samples, "nslb_pool_up", **ids, pool_id=pool["id"]) == 1
    members = {m["address"]: value(samples, "nslb_member_up", **ids, pool_id=pool["id"],
                                   member_id=m["id"]) for m in pool["members"]}
    assert members == {"10.0.0.51": 1, "10.0.0.52": 0}   # the second is disabled
    # the API, by route template and the caller's project
    assert value(samples, "nslb_api_requests_total", method="POST",
                 route="/v2/lbaas/loadbalancers", status="201", project_id=PROJECT) == 1
    assert value(samples, "nslb_api_requests_total", method="GET",
                 route="/v2/lbaas/loadbalancers/{id}", status="404",
                 project_id=PROJECT) == 1
    assert not [k for k in samples if k[0].startswith("nslb_api") and lb_id in str(k)]
    assert value(samples, "nslb_api_request_duration_seconds_count", method="POST",
                 route="/v2/lbaas/loadbalancers") == 1
    # the worker, the driver, the health loop, the objects
    assert value(samples, "nslb_worker_jobs_total", action="apply", result="ok") == 1
    assert value(samples, "nslb_amphora_applies_total", result="ok") == 1
    assert value(samples, "nslb_worker_queue_depth", lane="changes") == 0
    assert value(samples, "nslb_health_rounds_total") == 1
    assert value(samples, "nslb_health_amphorae_observed") == 1
    assert value(samples, "nslb_objects", kind="member", provisioning_status="ACTIVE",
                 operating_status="OFFLINE") == 1
    assert value(samples, "nslb_objects", kind="listener", provisioning_status="ACTIVE",
                 operating_status="ONLINE") == 2
    assert value(samples, "nslb_amphorae", status="ALLOCATED", role="STANDALONE") == 1
    amphora = env.client.get("/v2/octavia/amphorae").json()["amphorae"][0]["id"]
    assert value(samples, "nslb_amphora_up", **ids, amphora_id=amphora) == 1
    assert value(samples, "nslb_amphora_holds_vip", **ids, amphora_id=amphora) == 1


def test_deleted_load_balancers_leave_the_scrape(env: Env) -> None:
    tree, samples, _ = _run(env)
    assert ("nslb_loadbalancer_up", tuple(sorted(
        {"loadbalancer_id": tree["id"], "project_id": PROJECT}.items()))) in samples
    assert env.client.delete(f"{LB_URL}/{tree['id']}?cascade=true").status_code == 204
    env.service.worker.drain()
    env.service.health.run_once()
    samples, _ = scrape(env.service.metrics)
    assert not [k for k in samples if tree["id"] in str(k)]


def test_the_listener_serves_the_registry_over_http(env: Env) -> None:
    running = metrics_server.start("127.0.0.1:0", env.service.metrics.registry)
    assert running is not None
    try:
        host, port = running.address
        resp = httpx.get(f"http://{host}:{port}/metrics", timeout=5)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/plain")
        families = {f.name for f in text_string_to_metric_families(resp.text)}
        assert {"nslb_build_info", "nslb_api_requests", "nslb_objects",
                "nslb_health_round_duration_seconds"} <= families
        # a second listener on the same address logs and stays off; nslb keeps running
        assert metrics_server.start(f"{host}:{port}", env.service.metrics.registry) is None
    finally:
        running.stop()
    with socket.socket() as probe:
        assert probe.connect_ex((host, port)) != 0


def test_metrics_off(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), amphora_driver="noop",
                        auth="noauth", metrics_listen="")
    service = build(settings, NoopDriver())
    try:
        with TestClient(service.app) as client:
            assert client.get("/").status_code == 200
        samples, _ = scrape(service.metrics)
        assert not [k for k in samples if k[0] == "nslb_api_requests_total"]
        assert metrics_server.start(settings.metrics_listen, service.metrics.registry) is None
    finally:
        service.db.dispose()
    with pytest.raises(ConfigError, match="metrics-listen"):
        Settings(metrics_listen="localhost").validate()


def test_object_counts_are_read_once_per_ttl(env: Env) -> None:
    now = [100.0]
    counts = ObjectCounts(env.service.db, ttl=5.0, clock=lambda: now[0])
    _tree_create(env)
    for _ in range(3):
        list(counts.collect())
    assert counts.reads == 1
    now[0] += 5.0
    objects, _ = counts.counts()
    assert counts.reads == 2
    assert [(kind, n) for kind, provisioning, _, n in objects
            if provisioning == "ACTIVE"] == [("loadbalancer", 1), ("listener", 2), ("pool", 1),
                                             ("member", 2)]


# --- the Grafana dashboard -----------------------------------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
            "or", "unless", "offset", "inf", "nan"}


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["definition"])
    return exprs


def _uses(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """The metric selectors in `expr` with the label names each matches on, and the label
    names of its by/without clauses (and of label_values)."""
    grouped: set[str] = set()
    values = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr)
    if values:
        expr, label = values.groups()
        grouped.add(label)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)            # strings
    expr = re.sub(r"\[[^\]]*\]", "", expr)                       # range selectors
    for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        grouped |= {w.strip() for w in clause.split(",") if w.strip()}
    expr = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", expr)
    inside = [m.span() for m in re.finditer(r"\{[^}]*\}", expr)]
    selectors = []
    for token in re.finditer(r"[A-Za-z_:][\w:]*", expr):
        name, rest = token.group(), expr[token.end():].lstrip()
        if name in KEYWORDS or rest.startswith("(") \
                or any(a < token.start() < b for a, b in inside):  # a keyword, a function, a label
            continue
        matchers = re.match(r"\{[^}]*\}", rest)
        keys = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers.group() if matchers else ""))
        selectors.append((name, keys))
    return selectors, grouped


def test_every_dashboard_expression_names_what_nslb_exports(env: Env) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    _, _, labels = _run(env)
    names = exported_names(env.service.metrics.families())
    exprs = _expressions(dashboard)
    assert len(exprs) > 30
    used = set()
    for expr in exprs:
        selectors, grouped = _uses(expr)
        assert selectors, expr
        carried: set[str] = set(TARGET_LABELS)
        for name, keys in selectors:
            assert name in names, f"{name} in {expr!r} is not exported"
            assert name in labels, f"{name} in {expr!r} had no sample in the scenario"
            assert keys <= labels[name] | TARGET_LABELS, (name, keys, expr)
            carried |= labels[name]
            used.add(name)
        assert grouped <= carried, (grouped, expr)
    # the data plane and every family of the control plane are on the dashboard
    for family in ("nslb_listener_requests_total", "nslb_member_up",
                   "nslb_api_request_duration_seconds_bucket", "nslb_worker_queue_depth",
                   "nslb_worker_reconcile_duration_seconds_bucket",
                   "nslb_health_round_duration_seconds_bucket", "nslb_failovers_total",
                   "nslb_objects", "nslb_haproxy_reloads_total"):
        assert family in used, family
    for variable in ("$project", "$loadbalancer"):
        assert any(variable in e for e in exprs)


def test_the_readme_lists_every_metric_and_no_other(env: Env) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Metrics (Prometheus)", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `nslb_")]
    listed = {name for line in table for name in re.findall(r"`(nslb_\w+)`",
                                                            line.split("|")[1])}
    suffix = {"counter": "_total", "info": "_info"}
    exported = {f.name + suffix.get(f.type, "") for f in env.service.metrics.families()
                if f.name.startswith("nslb_")}
    assert listed == exported
