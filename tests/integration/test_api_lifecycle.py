"""Life of LBs built through a real `nslb serve`: hitless changes under load, the control plane
killed -9 and restarted, deletion leaving nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nslb.netns.names import host_ifname, namespace_name
from tests.integration.api_env import POOLS, Api, flat_subnet, http_lb, serving, url
from tests.integration.conftest import Lab, sh

BACKENDS = ["10.250.15.21", "10.250.15.22", "10.250.15.23"]
CLIENT = "10.250.15.50"
CHANGES = 50
LOOP_LIMIT = 20000  # http_probe also stops by itself after 60 s


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    second: str  # 10.250.16.0/24 on the same network


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving() as (api, lab):
        subnet = flat_subnet(api, "physnet1", "10.250.15.0/24", "10.250.15.100",
                             "10.250.15.199")
        network = api.call("GET", f"/networking/v2.0/subnets/{subnet}", 200)["subnet"]
        second = api.subnet(network["network_id"], "10.250.16.0/24", gateway_ip=None,
                            allocation_pools=[{"start": "10.250.16.100",
                                               "end": "10.250.16.199"}])["id"]
        yield Env(api, lab, subnet, second)


def _backends(lab: Lab, count: int) -> None:
    for i in range(count):
        lab.serve(lab.host(f"be{i + 1}", [f"{BACKENDS[i]}/24"]), f"be{i + 1}")


def _finish(loop: subprocess.Popen[str], stop: Path) -> dict[str, object]:
    stop.touch()
    out, _ = loop.communicate(timeout=90)
    result: dict[str, object] = json.loads(out)
    return result


def _master_pid(api: Api, lb_id: str) -> int:
    return int((api.amphora_dir(lb_id) / "haproxy.pid").read_text())


def _workers(master: int) -> set[int]:
    return {int(p) for p in sh("pgrep", "-P", str(master), check=False).split()}


def test_fifty_member_changes_under_load_lose_no_request(env: Env, hosts: Lab,
                                                         tmp_path: Path) -> None:
    api = env.api
    _backends(hosts, 3)
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = api.create_lb(http_lb(env.subnet, [{"address": a} for a in BACKENDS[:2]]))
    lb_id = lb["id"]
    members_url = f"{POOLS}/{api.pool_id(lb_id)}/members"
    first, second = (api.members(lb_id)[a]["id"] for a in BACKENDS[:2])
    stop = tmp_path / "stop"
    loop = hosts.start_loop(client, url(lb["vip_address"]), stop, LOOP_LIMIT)
    started = time.monotonic()
    third = None
    for i in range(CHANGES):
        step = i % 5
        if step == 0:
            api.change(lb_id, "PUT", f"{members_url}/{first}", {"member": {"weight": i % 7 + 1}})
        elif step == 1:
            third = api.change(lb_id, "POST", members_url, {"member": {
                "address": BACKENDS[2], "protocol_port": 8080}})["member"]["id"]
        elif step == 2:
            api.change(lb_id, "PUT", f"{members_url}/{third}", {"member": {"weight": 3}})
        elif step == 3:
            api.change(lb_id, "DELETE", f"{members_url}/{third}")
        else:
            api.change(lb_id, "PUT", f"{members_url}/{second}",
                       {"member": {"weight": 0 if i % 10 == 4 else 2}})
    elapsed = time.monotonic() - started
    result = _finish(loop, stop)
    assert result["errors"] == [], (len(result["errors"]), result["errors"][:5])  # type: ignore
    assert int(result["ok"]) > 200, result["ok"]  # type: ignore[call-overload]
    assert elapsed < 90, elapsed


def test_kill_9_of_nslb_keeps_traffic_and_the_restart_adopts(env: Env, hosts: Lab,
                                                             tmp_path: Path) -> None:
    api = env.api
    _backends(hosts, 2)
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = api.create_lb(http_lb(env.subnet, [{"address": a} for a in BACKENDS[:2]]))
    vip = url(lb["vip_address"])
    master = _master_pid(api, lb["id"])
    workers = _workers(master)
    assert workers
    stop = tmp_path / "stop"
    loop = hosts.start_loop(client, vip, stop, LOOP_LIMIT)
    time.sleep(0.5)
    api.kill9()
    time.sleep(2.0)  # the control plane is gone; the data plane keeps serving
    restarting = time.monotonic()
    api.start()
    assert api.lb(lb["id"])["provisioning_status"] == "ACTIVE"
    time.sleep(1.5)  # the restarted worker resyncs the LB: adoption must not touch haproxy
    assert _master_pid(api, lb["id"]) == master
    assert _workers(master) == workers
    # a change after the restart still applies
    pool = api.pool_id(lb["id"])
    member = api.members(lb["id"])[BACKENDS[1]]["id"]
    api.change(lb["id"], "PUT", f"{POOLS}/{pool}/members/{member}", {"member": {"weight": 0}})
    result = _finish(loop, stop)
    assert result["errors"] == [], result["errors"][:5]  # type: ignore[index]
    assert int(result["ok"]) > 50, result  # type: ignore[call-overload]
    assert hosts.names(client, vip, 6) == ["be1"] * 6
    assert _master_pid(api, lb["id"]) == master
    assert time.monotonic() - restarting < 30


def test_delete_through_the_api_removes_everything(env: Env, hosts: Lab) -> None:
    api = env.api
    hosts.serve(hosts.host("be1", ["10.250.16.21/24"]), "be1")
    lb = api.create_lb(http_lb(env.subnet, []))
    lb_id = lb["id"]
    api.change(lb_id, "POST", f"{POOLS}/{api.pool_id(lb_id)}/members", {"member": {
        "address": "10.250.16.21", "protocol_port": 8080, "subnet_id": env.second}})
    ports = [p for p in api.call("GET", "/networking/v2.0/ports", 200)["ports"]
             if lb_id in p["device_id"]]
    veths = {host_ifname(p["id"]) for p in ports}
    client = hosts.host("cl", [f"{CLIENT}/24"])
    assert hosts.names(client, url(lb["vip_address"]), 2) == ["be1", "be1"]
    lb_dir = api.amphora_dir(lb_id)
    namespace = namespace_name(lb_dir.name)
    master = _master_pid(api, lb_id)
    assert namespace in sh("ip", "netns", "list")
    links = sh("ip", "-o", "link")
    assert len(veths) == 2 and all(v in links for v in veths), (veths, links)

    api.delete_lb(lb_id)
    assert namespace not in sh("ip", "netns", "list")
    links = sh("ip", "-o", "link")
    assert not [v for v in veths if v in links]
    assert not _alive(master)
    assert str(lb_dir) not in sh("ps", "-eo", "args")
    assert not lb_dir.exists()
    left = [p for p in api.call("GET", "/networking/v2.0/ports", 200)["ports"]
            if lb_id in p["device_id"]]
    assert left == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
