"""The metrics room without a service: route templates and bounded labels of the API
middleware, the listener address grammar, and the per-LB data-plane store (Octavia ids,
counters folded across haproxy restarts, members by state)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from nslb.amphora.base import ListenerCounters, MemberCounters, Observation
from nslb.db.tree import Tree
from nslb.metrics.dataplane import DataPlane, amphora_states
from nslb.metrics.http import OTHER, ProjectLabels, RequestMetrics, method_label
from nslb.metrics.registry import Metrics, exported_names
from nslb.metrics.server import parse_listen
from nslb.model.resources import Listener, LoadBalancer, Member, Pool

LB = "11111111-1111-4111-8111-111111111111"
PROJECT = "0123456789abcdef0123456789abcdef"
HTTP = "22222222-2222-4222-8222-222222222222"
TCP = "22222222-2222-4222-8222-333333333333"
POOL = "33333333-3333-4333-8333-333333333333"
M1, M2, M3 = (f"66666666-6666-4666-8666-66666666666{i}" for i in (1, 2, 3))


class _Ctx:
    def __init__(self, project_id: str | None) -> None:
        self.project_id = project_id


async def _endpoint(request: Request) -> Response:
    """Leaves a caller in the request's state, as the policy guard does."""
    request.state.ctx = _Ctx(request.headers.get("x-project-id"))
    return PlainTextResponse("ok")


def _counted(metrics: Metrics) -> dict[tuple[str, ...], float]:
    return {tuple(s.labels[k] for k in ("method", "route", "status", "project_id")): s.value
            for f in metrics.api_requests.collect() for s in f.samples
            if s.name == "nslb_api_requests_total"}


def test_requests_are_counted_by_route_template_and_project_never_the_raw_path() -> None:
    metrics = Metrics()
    app = Starlette(routes=[
        Route("/v2/lbaas/loadbalancers/{lb_id}", _endpoint),
        Mount("/load-balancer", routes=[Route("/v2/lbaas/pools/{pool_id}", _endpoint)]),
    ], middleware=[Middleware(RequestMetrics, metrics=metrics)])
    with TestClient(app) as client:
        assert client.get(f"/v2/lbaas/loadbalancers/{LB}",
                          headers={"X-Project-Id": PROJECT}).status_code == 200
        assert client.get(f"/load-balancer/v2/lbaas/pools/{POOL}").status_code == 200
        assert client.get(f"/no/such/{LB}").status_code == 404
        assert client.request("BREW", f"/v2/lbaas/loadbalancers/{LB}").status_code == 405
    assert _counted(metrics) == {
        ("GET", "/v2/lbaas/loadbalancers/{lb_id}", "200", PROJECT): 1,
        ("GET", "/load-balancer/v2/lbaas/pools/{pool_id}", "200", ""): 1,
        ("GET", "<unmatched>", "404", ""): 1,
        ("other", "/v2/lbaas/loadbalancers/{lb_id}", "405", ""): 1,
    }
    latency = {s.labels["route"] for f in metrics.api_latency.collect() for s in f.samples}
    assert not [r for r in latency if LB in r or POOL in r]


def test_methods_outside_http_usual_ones_share_one_label() -> None:
    assert [method_label(m) for m in ("GET", "DELETE", "BREW", "get")] == [
        "GET", "DELETE", "other", "other"]


def test_project_labels_are_capped() -> None:
    labels = ProjectLabels(limit=2)
    assert [labels(p) for p in ("a", "b", "a", "c", "", "b", "d")] == [
        "a", "b", "a", OTHER, "", "b", OTHER]


@pytest.mark.parametrize(("value", "parsed"), [
    ("127.0.0.1:9102", ("127.0.0.1", 9102)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:9102", ("::1", 9102)),
    ("", None),
])
def test_metrics_listen_accepts(value: str, parsed: tuple[str, int] | None) -> None:
    assert parse_listen(value) == parsed


@pytest.mark.parametrize("value", ["9102", "127.0.0.1", ":9102", "127.0.0.1:99999",
                                   "::1:9102", "host:port"])
def test_metrics_listen_refuses(value: str) -> None:
    with pytest.raises(ValueError, match="metrics-listen"):
        parse_listen(value)


# --- the data-plane store ----------------------------------------------------------------

def _tree() -> Tree:
    lb = LoadBalancer(id=LB, project_id=PROJECT, vip_address="10.203.0.10")
    listeners = [Listener(id=HTTP, loadbalancer_id=LB, protocol="HTTP", protocol_port=80),
                 Listener(id=TCP, loadbalancer_id=LB, protocol="TCP", protocol_port=81)]
    pool = Pool(id=POOL, loadbalancer_id=LB, protocol="HTTP")
    members = [Member(id=m, pool_id=POOL, loadbalancer_id=LB, address=f"10.203.0.{20 + i}")
               for i, m in enumerate((M1, M2, M3))]
    return Tree(lb=lb, listeners=listeners, pools=[pool], members=members)


def _row(counters: MemberCounters) -> tuple[str, ...]:
    """The server row cells haproxy would have written for these counters."""
    return tuple(str(v) for v in vars(counters).values())


def _obs(requests: int, started: float, **counters: int) -> Observation:
    http = ListenerCounters(requests=requests, total_connections=requests,
                            bytes_in=100 * requests, **counters)
    return Observation(
        running=True, listeners={HTTP: "OPEN", "stats": "OPEN"}, pools={POOL: "UP"},
        members={M1: "UP", M2: "DOWN", M3: "MAINT", "ghost": "UP"},
        counters={HTTP: http, "ghost-frontend": ListenerCounters(requests=999)},
        member_stats={M1: _row(MemberCounters(sessions=requests, active_sessions=1,
                                               responses_5xx=counters.get("responses_5xx", 0))),
                      "ghost": _row(MemberCounters(sessions=999))},
        process_start=started)


def _scrape(store: DataPlane) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(store)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _labels(**extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"loadbalancer_id": LB, "project_id": PROJECT, **extra}.items()))


def test_series_carry_octavia_ids_and_the_project_only() -> None:
    store = DataPlane()
    store.update(_tree(), _obs(7, 1000.0, active_connections=2, responses_5xx=1))
    series = _scrape(store)
    assert series["nslb_loadbalancer_up", _labels()] == 1
    assert series["nslb_listener_requests_total", _labels(listener_id=HTTP)] == 7
    assert series["nslb_listener_bytes_in_total", _labels(listener_id=HTTP)] == 700
    assert series["nslb_listener_responses_5xx_total", _labels(listener_id=HTTP)] == 1
    assert series["nslb_listener_active_connections", _labels(listener_id=HTTP)] == 2
    assert series["nslb_listener_up", _labels(listener_id=HTTP)] == 1
    # a listener of the tree haproxy does not report is down, at zero
    assert series["nslb_listener_up", _labels(listener_id=TCP)] == 0
    assert series["nslb_listener_requests_total", _labels(listener_id=TCP)] == 0
    member = {m: series["nslb_member_up", _labels(pool_id=POOL, member_id=m)]
              for m in (M1, M2, M3)}
    assert member == {M1: 1, M2: 0, M3: 0}
    on_m1 = _labels(pool_id=POOL, member_id=M1)
    assert series["nslb_member_sessions_total", on_m1] == 7
    assert series["nslb_member_responses_5xx_total", on_m1] == 1
    assert series["nslb_member_active_sessions", on_m1] == 1
    assert series["nslb_member_sessions_total", _labels(pool_id=POOL, member_id=M2)] == 0
    assert series["nslb_pool_up", _labels(pool_id=POOL)] == 1
    # haproxy's own names never become series
    assert not [key for key in series if "ghost" in str(key) or "stats" in str(key)]


def test_counters_carry_on_across_reloads_and_restarts() -> None:
    store = DataPlane()
    tree = _tree()
    key = ("nslb_listener_requests_total", _labels(listener_id=HTTP))
    store.update(tree, _obs(10, 1000.0))
    store.update(tree, _obs(15, 1000.0))
    assert _scrape(store)[key] == 15
    store.update(tree, _obs(4, 2000.0))   # a restart: haproxy starts again at zero
    assert _scrape(store)[key] == 19
    store.update(tree, _obs(1, 2000.0))   # gone backwards without a restart: reset too
    assert _scrape(store)[key] == 20
    member = ("nslb_member_sessions_total", _labels(pool_id=POOL, member_id=M1))
    assert _scrape(store)[member] == 20   # members are folded the same way
    down = Observation(running=False)     # haproxy away: the totals stay, the LB is down
    store.update(tree, down)
    series = _scrape(store)
    assert series[key] == 20 and series["nslb_loadbalancer_up", _labels()] == 0


def test_retain_forgets_deleted_load_balancers() -> None:
    store = DataPlane()
    store.update(_tree(), _obs(3, 1.0))
    store.retain([])
    assert LB not in store
    assert not [k for k in _scrape(store) if k[0].startswith("nslb_listener")]
    store.update(_tree(), _obs(2, 1.0))   # seen again: counted from its new start
    assert _scrape(store)["nslb_listener_requests_total", _labels(listener_id=HTTP)] == 2


def test_exported_names_spell_what_a_scrape_holds() -> None:
    metrics = Metrics()
    metrics.api_requests.labels("GET", "/", "200", "").inc()
    metrics.api_latency.labels("GET", "/").observe(0.01)
    scraped = {s.name for f in text_string_to_metric_families(
        generate_latest(metrics.registry).decode()) for s in f.samples}
    names = exported_names(metrics.families())
    assert scraped <= names
    assert {"nslb_api_requests_total", "nslb_api_request_duration_seconds_bucket",
            "nslb_build_info", "nslb_worker_queue_depth"} <= names


def test_amphorae_of_a_pair_show_which_one_serves_and_a_standby_that_died() -> None:
    master, backup = "a1", "a2"
    store = DataPlane()
    serving = _obs(1, 1.0)
    pair = {master: Observation(running=True, vrrp="MASTER"),
            backup: Observation(running=True, vrrp="BACKUP")}
    store.update(_tree(), serving, amphora_states(pair))
    assert store.current(LB, amphora_states(pair))
    series = _scrape(store)
    states = {a: (series["nslb_amphora_up", _labels(amphora_id=a)],
                  series["nslb_amphora_holds_vip", _labels(amphora_id=a)])
              for a in (master, backup)}
    assert states == {master: (1, 1), backup: (1, 0)}
    pair[backup] = Observation(running=True, vrrp="FAULT")   # its check fails
    assert not store.current(LB, amphora_states(pair))
    store.update(_tree(), serving, amphora_states(pair))
    series = _scrape(store)
    assert series["nslb_amphora_up", _labels(amphora_id=backup)] == 0
    assert series["nslb_loadbalancer_up", _labels()] == 1
    alone = amphora_states({"a3": Observation(running=True)})
    assert alone == {"a3": (True, True)}
    assert amphora_states({"a3": Observation(running=False)}) == {"a3": (False, False)}
