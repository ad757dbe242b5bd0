"""Changes under keep-alive traffic through a real `nslb serve` (issue 15, part 1): member
adds, removes, weight and admin-state changes go through HAProxy's runtime API without a
reload, the changes that do need one use `idle-close-on-response`, and a client that keeps
its connection open never sees a failed request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.amphora import runtime_api
from tests.integration.api_env import (
    FAST_MONITOR,
    LISTENERS,
    POOLS,
    Api,
    Served,
    http_lb,
    served,
    url,
)
from tests.integration.conftest import Lab, wait_for

BACKENDS = ["10.250.18.21", "10.250.18.22", "10.250.18.23"]
CLIENT = "10.250.18.50"


@pytest.fixture(scope="module")
def env() -> Iterator[Served]:
    with served("10.250.18.0/24", "10.250.18.100", "10.250.18.199") as module:
        yield module


def _reloads(api: Api, lb_id: str) -> int:
    """How often the LB's master has reloaded (the `show proc` master line)."""
    answer = runtime_api.command(api.amphora_dir(lb_id) / "master.sock", "show proc")
    master = next(line for line in answer.splitlines() if " master " in f" {line} ")
    return int(master.split()[2])


def test_member_changes_under_keepalive_traffic_need_no_reload(env: Served, hosts: Lab,
                                                                tmp_path: Path) -> None:
    for i, address in enumerate(BACKENDS, start=1):
        hosts.serve(hosts.host(f"be{i}", [f"{address}/24"]), f"be{i}")
    client = hosts.host("cl", [f"{CLIENT}/24"])
    api = env.api
    lb = api.create_lb(http_lb(env.subnet, [{"address": a} for a in BACKENDS[:2]],
                               monitor=FAST_MONITOR))
    lb_id, pool = lb["id"], api.pool_id(lb["id"])
    vip = url(lb["vip_address"])
    stop = tmp_path / "stop"
    loop = hosts.start_loop(client, vip, stop, keepalive=True)
    time.sleep(0.5)
    reloads = _reloads(api, lb_id)

    added = api.change(lb_id, "POST", f"{POOLS}/{pool}/members", {"member": {
        "address": BACKENDS[2], "protocol_port": 8080}})["member"]
    assert wait_for(lambda: "be3" in hosts.names(client, vip, 6), 10, 0.2)
    members = api.members(lb_id)
    api.change(lb_id, "PUT", f"{POOLS}/{pool}/members/{members[BACKENDS[0]]['id']}",
               {"member": {"weight": 0}})
    api.change(lb_id, "PUT", f"{POOLS}/{pool}/members/{members[BACKENDS[1]]['id']}",
               {"member": {"admin_state_up": False}})
    assert set(hosts.names(client, vip, 6)) == {"be3"}
    api.change(lb_id, "PUT", f"{POOLS}/{pool}/members/{members[BACKENDS[1]]['id']}",
               {"member": {"admin_state_up": True}})
    api.change(lb_id, "DELETE", f"{POOLS}/{pool}/members/{added['id']}")
    assert set(hosts.names(client, vip, 6)) == {"be2"}
    assert _reloads(api, lb_id) == reloads, "a member change reloaded haproxy"

    # a listener change needs a reload: the kept-alive client must not notice it either
    listener = api.listener_id(lb_id)
    for timeout in (40000, 40001, 40002):
        api.change(lb_id, "PUT", f"{LISTENERS}/{listener}",
                   {"listener": {"timeout_client_data": timeout}})
        time.sleep(0.3)
    assert _reloads(api, lb_id) == reloads + 3
    stop.touch()
    out, _ = loop.communicate(timeout=30)
    result = json.loads(out)
    assert result["errors"] == [], result["errors"][:5]
    assert result["ok"] > 50 and result["reused"] > 50, result
