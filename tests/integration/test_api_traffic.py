"""Load balancers built through the HTTP API of a real `nslb serve`, checked with real traffic:
algorithms, persistence, weights, allowed_cidrs, inserted headers, admin state, stats."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.integration.api_env import (
    LB,
    LISTENERS,
    POOLS,
    Api,
    Served,
    http_lb,
    served,
    url,
)
from tests.integration.conftest import HERE, Lab, sh, wait_for

BACKENDS = ["10.250.10.21", "10.250.10.22"]
CLIENTS = ["10.250.10.50", "10.250.10.51"]


@pytest.fixture(scope="module")
def env() -> Iterator[Served]:
    with served("10.250.10.0/24", "10.250.10.100", "10.250.10.199") as module:
        yield module


def _backends(lab: Lab, count: int = 2) -> list[dict[str, str]]:
    for i in range(count):
        lab.serve(lab.host(f"be{i + 1}", [f"{BACKENDS[i]}/24"]), f"be{i + 1}")
    return [{"address": a} for a in BACKENDS[:count]]


def _client(lab: Lab, index: int = 0) -> str:
    return lab.host(f"cl{index}", [f"{CLIENTS[index]}/24"])


def test_round_robin_spreads_over_two_members(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts)))
    names = hosts.names(_client(hosts), url(lb["vip_address"]), 10)
    assert Counter(names) == {"be1": 5, "be2": 5}, names


def test_least_connections_avoids_the_busy_member(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts), algorithm="LEAST_CONNECTIONS"))
    client = _client(hosts)
    vip = url(lb["vip_address"])
    # Requests that be1 holds for 8 s (be2 answers them at once): under leastconn, once be1
    # holds one, everything else goes to be2.
    held = [subprocess.Popen(["ip", "netns", "exec", client, sys.executable,
                              str(HERE / "http_probe.py"), url(lb["vip_address"],
                                                               "/?sleep=20&on=be1"), "1", "25"],
                             stdout=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in held:
        hosts.track(proc)
    be1 = f"{hosts.tag}-be1"
    # every probe is either held by be1 or already answered by be2 (none still on its way)
    assert wait_for(lambda: _held(be1) >= 1 and _held(be1) + sum(
        p.poll() is not None for p in held) == len(held), 15, 0.1), "be1 holds no request"
    names = hosts.names(client, vip, 10)
    assert names == ["be2"] * 10, names
    for proc in held:
        proc.kill()


def _held(ns: str) -> int:
    """Established connections to the echo server in `ns`."""
    out = sh("ip", "netns", "exec", ns, "ss", "-Htn", "state", "established",
             "( sport = :8080 )")
    return len(out.splitlines())


def test_source_ip_persistence_keeps_a_client_on_one_member(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts),
                                   pool={"session_persistence": {"type": "SOURCE_IP"}}))
    vip = url(lb["vip_address"])
    for index in (0, 1):
        names = hosts.names(_client(hosts, index), vip, 8)
        assert len(set(names)) == 1 and names[0] in ("be1", "be2"), names


def test_http_cookie_persistence(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts),
                                   pool={"session_persistence": {"type": "HTTP_COOKIE"}}))
    client = _client(hosts)
    vip = url(lb["vip_address"])
    with_cookie = hosts.probe(client, vip, 8, options=("--cookies",))
    names = [r.get("name") for r in with_cookie]
    assert "set_cookie" in with_cookie[0], with_cookie[0]
    assert len(set(names)) == 1 and names[0] in ("be1", "be2"), names
    # haproxy inserts the cookie indirectly: the backend never sees it
    assert "cookie" not in with_cookie[1]["headers"]
    # without the cookie the pool still balances
    assert set(hosts.names(client, vip, 6)) == {"be1", "be2"}


def test_app_cookie_persistence(env: Served, hosts: Lab) -> None:
    persistence = {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts),
                                   pool={"session_persistence": persistence}))
    client = _client(hosts)
    vip = url(lb["vip_address"], "/?setcookie=JSESSIONID")
    first = hosts.probe(client, vip, 8, options=("--cookies",))
    names = [r.get("name") for r in first]
    assert len(set(names)) == 1 and names[0] in ("be1", "be2"), names
    # another session stuck to the other member stays there too
    other = "be2" if names[0] == "be1" else "be1"
    pinned = hosts.probe(client, vip, 6, options=("--header", f"Cookie:JSESSIONID={other}"))
    assert [r.get("name") for r in pinned] == [other] * 6, pinned


def test_weight_zero_member_gets_no_new_traffic(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts)))
    client = _client(hosts)
    vip = url(lb["vip_address"])
    assert set(hosts.names(client, vip, 6)) == {"be1", "be2"}
    member = env.api.members(lb["id"])[BACKENDS[1]]
    pool = env.api.pool_id(lb["id"])
    env.api.change(lb["id"], "PUT", f"{POOLS}/{pool}/members/{member['id']}",
                   {"member": {"weight": 0}})
    assert hosts.names(client, vip, 8) == ["be1"] * 8


def test_allowed_cidrs_refuse_a_client_outside(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts, 1),
                                   listener={"allowed_cidrs": [f"{CLIENTS[0]}/32"]}))
    vip = url(lb["vip_address"])
    assert hosts.names(_client(hosts, 0), vip, 3) == ["be1"] * 3
    assert hosts.names(_client(hosts, 1), vip, 3, ) == ["error"] * 3


def test_inserted_x_forwarded_headers_reach_the_backend(env: Served, hosts: Lab) -> None:
    headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "true",
               "X-Forwarded-Proto": "true"}
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts, 1),
                                   listener={"insert_headers": headers}))
    seen = hosts.probe(_client(hosts), url(lb["vip_address"]))[0]["headers"]
    assert seen["x-forwarded-for"] == CLIENTS[0]
    assert seen["x-forwarded-port"] == "80"
    assert seen["x-forwarded-proto"] == "http"


def test_admin_state_down_on_listener_and_lb_stops_serving(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts, 1)))
    client = _client(hosts)
    vip = url(lb["vip_address"])
    listener = env.api.listener_id(lb["id"])
    assert hosts.names(client, vip, 2) == ["be1", "be1"]
    for path, root in ((f"{LISTENERS}/{listener}", "listener"), (f"{LB}/{lb['id']}",
                                                                  "loadbalancer")):
        env.api.change(lb["id"], "PUT", path, {root: {"admin_state_up": False}})
        answers = hosts.probe(client, vip, 2, timeout=1.0)
        assert all("error" in a for a in answers), (root, answers)
        assert all(("refused" in a["error"] or "reset" in a["error"]) for a in answers), answers
        env.api.change(lb["id"], "PUT", path, {root: {"admin_state_up": True}})
        assert hosts.names(client, vip, 2) == ["be1", "be1"], root


def _workers(master: int) -> set[int]:
    return {int(p) for p in sh("pgrep", "-P", str(master), check=False).split()}


def _stats(api: Api, lb_id: str, listener: str) -> tuple[dict[str, int], dict[str, int]]:
    return (api.call("GET", f"{LISTENERS}/{listener}/stats", 200)["stats"],
            api.call("GET", f"{LB}/{lb_id}/stats", 200)["stats"])


def test_stats_count_requests_and_survive_a_reload(env: Served, hosts: Lab) -> None:
    lb = env.api.create_lb(http_lb(env.subnet, _backends(hosts, 1)))
    client = _client(hosts)
    vip = url(lb["vip_address"])
    listener = env.api.listener_id(lb["id"])
    n = 20
    assert hosts.names(client, vip, n) == ["be1"] * n

    def counted(at_least: int) -> tuple[dict[str, int], dict[str, int]] | None:
        li, whole = _stats(env.api, lb["id"], listener)
        if li["total_connections"] >= at_least and whole["total_connections"] >= at_least:
            return li, whole
        return None

    got = wait_for(lambda: counted(n), 6, 0.2)
    assert got, _stats(env.api, lb["id"], listener)
    before_li, before_lb = got
    for stats in got:
        assert stats["bytes_in"] > 0 and stats["bytes_out"] > 0, stats
    # a timeout change needs a reload: a new haproxy worker whose counters start at zero
    master = int((env.api.amphora_dir(lb["id"]) / "haproxy.pid").read_text())
    workers = _workers(master)
    env.api.change(lb["id"], "PUT", f"{LISTENERS}/{listener}",
                   {"listener": {"timeout_client_data": 40001}})
    assert wait_for(lambda: _workers(master) - workers, 5), "no new haproxy worker"
    for _ in range(3):  # across several health rounds after the reload
        time.sleep(1.1)
        li, whole = _stats(env.api, lb["id"], listener)
        for key in ("total_connections", "bytes_in", "bytes_out"):
            assert li[key] >= before_li[key], (key, before_li, li)
            assert whole[key] >= before_lb[key], (key, before_lb, whole)
    assert hosts.names(client, vip, 5) == ["be1"] * 5
    assert wait_for(lambda: counted(before_li["total_connections"] + 5), 6, 0.2), \
        _stats(env.api, lb["id"], listener)
