"""Prometheus metrics of a real `nslb serve` with real traffic: requests through a VIP show
up in the per-LB series of nslb's metrics listener under the Octavia ids and project of
the objects they crossed (and carry on across a haproxy reload), and a PROMETHEUS
listener answers on the VIP with haproxy's own exporter, whose proxies and servers are
the LB's listeners, pools and members by id.

Addresses: 10.203.1.0/24 only; bridge, physnet and namespaces are named with "met"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nslb.netns.names import namespace_name
from tests.integration.api_env import (
    LISTENERS,
    PROJECT,
    Api,
    flat_subnet,
    http_lb,
    per_test,
    serving,
    url,
)
from tests.integration.conftest import PREFIX, Lab, sh, wait_for
from tests.launcher import free_port

PHYSNET = "metnet1"
SUBNET = "10.203.1.0/24"
BACKENDS = ["10.203.1.21", "10.203.1.22"]
CLIENT = "10.203.1.50"
METRICS_PORT = 9100
_tags = 0

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _tag() -> str:
    """A lab tag with "met" in it that no other lab tag starts with (two hex digits)."""
    global _tags
    _tags += 1
    return f"{PREFIX}met{_tags:02x}"


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    metrics_url: str


@contextmanager
def _serving() -> Iterator[Env]:
    """A module lab whose bridge is physnet `metnet1`, and nslb serving metrics on a port
    of its own; everything removed whatever happens."""
    port = free_port()
    with serving(extra_args=("--metrics-listen", f"127.0.0.1:{port}"), tag=_tag(),
                 physnet=PHYSNET) as (api, lab):
        subnet = flat_subnet(api, PHYSNET, SUBNET, "10.203.1.100", "10.203.1.199")
        yield Env(api, lab, subnet, f"http://127.0.0.1:{port}/metrics")


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with _serving() as served:
        yield served


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    """Backends and a client of one test on the module bridge; its LBs are deleted after."""
    with per_test(env.api, env.lab, tag=_tag()) as lab:
        for i, address in enumerate(BACKENDS, start=1):
            lab.serve(lab.host(f"be{i}", [f"{address}/24"]), f"be{i}")
        lab.host("cl", [f"{CLIENT}/24"])
        yield lab


def _lb(env: Env) -> dict[str, Any]:
    """HTTP :80 to both backends, and a PROMETHEUS listener on :9100 of the same VIP."""
    body = http_lb(env.subnet, [{"address": a} for a in BACKENDS])
    body["listeners"].append({"name": "metrics", "protocol": "PROMETHEUS",
                              "protocol_port": METRICS_PORT,
                              "allowed_cidrs": [f"{CLIENT}/32"]})
    lb = env.api.create_lb(body)
    tree = env.api.status(lb["id"])
    lb["http"] = next(li for li in tree["listeners"] if li["pools"])
    lb["metrics"] = next(li for li in tree["listeners"] if not li["pools"])
    return lb


def _scrape(text: str) -> Series:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _nslb(env: Env) -> Series:
    resp = httpx.get(env.metrics_url, timeout=5)
    assert resp.status_code == 200, resp.text
    return _scrape(resp.text)


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def _requests(env: Env, lb: dict[str, Any]) -> float | None:
    ids = {"loadbalancer_id": lb["id"], "listener_id": lb["http"]["id"],
           "project_id": PROJECT}
    return _nslb(env).get(_key("nslb_listener_requests_total", **ids))


def _via_vip(lab: Lab, address: str, path: str) -> tuple[int, str]:
    """(status, body) of GET http://VIP:9100<path> from the client namespace."""
    out = sh("ip", "netns", "exec", f"{lab.tag}-cl", "curl", "-s", "--max-time", "5",
             "-w", "\n%{http_code}", f"http://{address}:{METRICS_PORT}{path}")
    body, _, status = out.rpartition("\n")
    return int(status), body


def test_requests_through_the_vip_are_counted_under_octavia_ids(env: Env,
                                                                 hosts: Lab) -> None:
    lb = _lb(env)
    client = f"{hosts.tag}-cl"
    names = hosts.names(client, url(lb["vip_address"]), 10)
    assert sorted(names) == ["be1"] * 5 + ["be2"] * 5, names
    assert wait_for(lambda: _requests(env, lb) == 10, 20, 0.25), _requests(env, lb)
    series = _nslb(env)
    ids = {"loadbalancer_id": lb["id"], "project_id": PROJECT}
    http = {**ids, "listener_id": lb["http"]["id"]}
    assert series[_key("nslb_listener_connections_total", **http)] == 10
    assert series[_key("nslb_listener_bytes_in_total", **http)] > 0
    assert series[_key("nslb_listener_bytes_out_total", **http)] > 0
    assert series[_key("nslb_listener_responses_5xx_total", **http)] == 0
    assert series[_key("nslb_loadbalancer_up", **ids)] == 1
    amphora = {**ids, "amphora_id": env.api.amphora_id(lb["id"])}
    assert series[_key("nslb_amphora_up", **amphora)] == 1
    assert series[_key("nslb_amphora_holds_vip", **amphora)] == 1
    assert series[_key("nslb_listener_up", **ids, listener_id=lb["metrics"]["id"])] == 1
    pool = lb["http"]["pools"][0]
    by_member = [{**ids, "pool_id": pool["id"], "member_id": m["id"]} for m in pool["members"]]
    assert [series[_key("nslb_member_up", **m)] for m in by_member] == [1, 1]
    assert [series[_key("nslb_member_sessions_total", **m)] for m in by_member] == [5, 5]
    assert all(series[_key("nslb_member_bytes_out_total", **m)] > 0 for m in by_member)
    assert series[_key("nslb_api_requests_total", method="POST",
                       route="/v2/lbaas/loadbalancers", status="201",
                       project_id=PROJECT)] >= 1
    # a reload starts haproxy's counters again; nslb's carry on
    env.api.change(lb["id"], "PUT", f"{LISTENERS}/{lb['http']['id']}",
                   {"listener": {"connection_limit": 500}})
    assert len(hosts.names(client, url(lb["vip_address"]), 5)) == 5
    assert wait_for(lambda: _requests(env, lb) == 15, 20, 0.25), _requests(env, lb)
    status, text = _via_vip(hosts, lb["vip_address"], "/metrics")
    assert status == 200
    haproxys = _scrape(text)[_key("haproxy_frontend_http_requests_total",
                                  proxy=lb["http"]["id"])]
    assert haproxys == 5  # the new haproxy worker counted only what came after the reload


def test_a_prometheus_listener_serves_haproxys_metrics_on_the_vip(env: Env,
                                                                  hosts: Lab) -> None:
    lb = _lb(env)
    names = hosts.names(f"{hosts.tag}-cl", url(lb["vip_address"]), 6)
    assert sorted(names) == ["be1"] * 3 + ["be2"] * 3, names
    status, text = _via_vip(hosts, lb["vip_address"], "/metrics")
    assert status == 200, text[:500]
    series = _scrape(text)
    http_id, pool = lb["http"]["id"], lb["http"]["pools"][0]
    # haproxy's proxies and servers are the LB's objects, by Octavia id
    assert series[_key("haproxy_frontend_http_requests_total", proxy=http_id)] == 6
    assert series[_key("haproxy_backend_http_responses_total", proxy=pool["id"],
                       code="2xx")] == 6
    per_member = {m["id"]: series[_key("haproxy_server_sessions_total", proxy=pool["id"],
                                       server=m["id"])] for m in pool["members"]}
    assert sorted(per_member.values()) == [3, 3], per_member
    assert series[_key("haproxy_server_status", proxy=pool["id"],
                       server=pool["members"][0]["id"], state="UP")] == 1
    # only /metrics; and the listener is the LB's own: no other LB's proxies
    assert _via_vip(hosts, lb["vip_address"], "/")[0] == 404
    proxies = {dict(labels).get("proxy") for _, labels in series} - {None}
    assert proxies <= {http_id, lb["metrics"]["id"], pool["id"]}, proxies


def _holds_vip(amphora_id: str, vip: str) -> bool:
    addresses = sh("ip", "netns", "exec", namespace_name(amphora_id), "ip", "-o", "addr",
                   "show", check=False)
    return f" {vip}/" in addresses


def test_the_amphorae_of_a_pair_and_which_one_holds_the_vip(env: Env, hosts: Lab) -> None:
    profile = env.api.call("POST", "/v2/lbaas/flavorprofiles", 201, {"flavorprofile": {
        "name": "met-pair", "provider_name": "amphora",
        "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}})["flavorprofile"]
    flavor = env.api.call("POST", "/v2/lbaas/flavors", 201, {"flavor": {
        "name": "met-pair", "flavor_profile_id": profile["id"]}})["flavor"]
    body = http_lb(env.subnet, [{"address": a} for a in BACKENDS], flavor_id=flavor["id"])
    lb = env.api.create_lb(body)
    amphorae = [d.name for d in env.api.amphora_dirs(lb["id"])]
    assert len(amphorae) == 2
    assert wait_for(lambda: sum(_holds_vip(a, lb["vip_address"]) for a in amphorae) == 1,
                    15, 0.1)
    (holder,) = [a for a in amphorae if _holds_vip(a, lb["vip_address"])]
    ids = {"loadbalancer_id": lb["id"], "project_id": PROJECT}

    def states() -> dict[str, tuple[float | None, float | None]]:
        series = _nslb(env)
        return {a: (series.get(_key("nslb_amphora_up", **ids, amphora_id=a)),
                    series.get(_key("nslb_amphora_holds_vip", **ids, amphora_id=a)))
                for a in amphorae}

    want = {a: (1.0, 1.0 if a == holder else 0.0) for a in amphorae}
    assert wait_for(lambda: states() == want, 20, 0.25), (states(), holder)
    names = hosts.names(f"{hosts.tag}-cl", url(lb["vip_address"]), 4)
    assert sorted(names) == ["be1", "be1", "be2", "be2"], names
