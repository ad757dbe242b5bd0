"""The probe's data-plane findings against a real `nslb serve` with the namespace driver
(../shared/reference/probe-2026-12-03.md): injections are refused and never reach a served
config (F1, F2, F13), haproxy cannot read the host's secrets even if a directive asked
(defence in depth), a deleted stats socket and an undecodable haproxy.cfg heal (F10), and
one pool holds 1,000 health-checked members (F5). Every check sends real traffic."""

from __future__ import annotations

import os
import pwd
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nslb.amphora.haproxy_process import HaproxyProcess
from nslb.netns.names import namespace_name
from tests.integration.api_env import (
    FAST_MONITOR,
    LB,
    NET,
    Api,
    flat_subnet,
    http_lb,
    serving,
    url,
)
from tests.integration.conftest import Lab, wait_for

BACKENDS = ["10.250.11.21", "10.250.11.22"]
CLIENT = "10.250.11.50"
HOSTILE_ADDRESS = ("fe80::1%lo]:80 init-addr none\n    http-request return status 200 "
                   "content-type text\\x2fplain file {secret}\n#")
HOSTILE_PATHS = ['/"${NSLB_DB}"', "/x\r\nX-Injected:\\x20yes", "/x\\x0aINJESC", "/x#INJH",
                 '/x"INJQ', "/x'INJSQ", "/x\u0000y"]


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    network: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving() as (api, lab):
        subnet = flat_subnet(api, "physnet1", "10.250.11.0/24", "10.250.11.100",
                             "10.250.11.199")
        network = api.call("GET", f"{NET}/subnets/{subnet}", 200)["subnet"]["network_id"]
        yield Env(api, lab, subnet, network)


@pytest.fixture
def secret(env: Env) -> Iterator[Path]:
    """A root-only file in nslb's state dir, like clouds.yaml or a Fernet key."""
    path = env.api.state_dir / "probe-secret.txt"
    path.write_text(f"s3cr3t-{secrets.token_hex(8)}\n")
    path.chmod(0o600)
    yield path
    path.unlink(missing_ok=True)


def _lb(env: Env, hosts: Lab, **extra: Any) -> tuple[dict[str, Any], str]:
    for i, address in enumerate(BACKENDS, start=1):
        hosts.serve(hosts.host(f"be{i}", [f"{address}/24"]), f"be{i}")
    lb = env.api.create_lb(http_lb(env.subnet, [{"address": a} for a in BACKENDS],
                                   monitor=FAST_MONITOR, **extra))
    return lb, hosts.host("cl", [f"{CLIENT}/24"])


def _config(env: Env, lb_id: str) -> Path:
    return env.api.amphora_dir(lb_id) / "haproxy.cfg"


def _serves_both(hosts: Lab, client: str, lb: dict[str, Any]) -> bool:
    return set(hosts.names(client, url(lb["vip_address"]), 6)) == {"be1", "be2"}


def test_every_probe_injection_is_refused_and_the_served_config_is_untouched(
        env: Env, hosts: Lab, secret: Path) -> None:
    lb, client = _lb(env, hosts)
    api, pool = env.api, env.api.pool_id(lb["id"])
    served = _config(env, lb["id"]).read_text()
    hm = api.call("GET", f"/v2/lbaas/pools/{pool}", 200)["pool"]["healthmonitor_id"]
    member = next(iter(api.members(lb["id"]).values()))["id"]
    hostile = HOSTILE_ADDRESS.format(secret=str(secret).replace("/", "\\x2f"))
    refused = [
        ("POST", f"/v2/lbaas/pools/{pool}/members",
         {"member": {"address": hostile, "protocol_port": 80}}),
        ("PUT", f"/v2/lbaas/pools/{pool}/members/{member}",
         {"member": {"monitor_address": hostile}}),
        ("PUT", f"/v2/lbaas/pools/{pool}/members",
         {"members": [{"address": "fd88::1:77%x", "protocol_port": 80}]}),
        ("POST", LB, {"loadbalancer": {"vip_subnet_id": env.subnet,
                                       "vip_address": "10.250.11.150%x"}}),
        ("POST", f"{NET}/ports", {"port": {"network_id": env.network, "fixed_ips": [
            {"subnet_id": env.subnet, "ip_address": "10.250.11.151%lo\n#"}]}}),
        *[("PUT", f"/v2/lbaas/healthmonitors/{hm}", {"healthmonitor": {"url_path": path}})
          for path in HOSTILE_PATHS],
        ("PUT", f"/v2/lbaas/healthmonitors/{hm}", {"healthmonitor": {"expected_codes":
                                                                     "200-100"}}),
        ("PUT", f"/v2/lbaas/healthmonitors/{hm}", {"healthmonitor": {"delay": 0}}),
        ("PUT", f"/v2/lbaas/healthmonitors/{hm}", {"healthmonitor": {"timeout": 2147484}}),
    ]
    for method, path, body in refused:
        resp = api.http.request(method, path, json=body)
        assert resp.status_code == 400, (method, path, body, resp.status_code, resp.text)
        assert secret.read_text().strip() not in resp.text
    assert api.lb(lb["id"])["provisioning_status"] == "ACTIVE"
    assert _config(env, lb["id"]).read_text() == served
    assert _serves_both(hosts, client, lb)
    for path in ("/", "/x", "/probe-secret.txt"):
        body = hosts.probe(client, url(lb["vip_address"], path), 1)[0]
        assert secret.read_text().strip() not in str(body)


def _uids(pids: list[int]) -> set[int]:
    uids = set()
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                uids.update(int(x) for x in line.split()[1:])
    return uids


def test_haproxy_runs_unprivileged_and_cannot_open_the_hosts_secrets(
        env: Env, hosts: Lab, secret: Path) -> None:
    lb, client = _lb(env, hosts)
    lb_dir = env.api.amphora_dir(lb["id"])
    proc = HaproxyProcess(lb_dir, namespace_name(lb_dir.name))
    pids = proc.all_pids()
    assert pids and _uids(pids) == {pwd.getpwnam("haproxy").pw_uid}
    assert oct(lb_dir.stat().st_mode & 0o777) == "0o700"
    # Defence in depth: a config that names a file outside the amphora's directory (what
    # the F1 injection wrote) cannot load, because haproxy never parses as root.
    hostile = lb_dir / "hostile.cfg"
    hostile.write_text(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
        "    timeout server 1s\nfrontend f\n    bind 127.0.0.1:18990\n"
        f"    http-request return status 200 content-type text/plain file {secret}\n")
    problem = proc.check(hostile)
    hostile.unlink()
    assert problem is not None and "error opening file" in problem, problem
    for path in ("/", "/probe-secret.txt", f"/{secret.name}"):
        assert secret.read_text().strip() not in str(
            hosts.probe(client, url(lb["vip_address"], path), 1)[0])


def test_a_deleted_stats_socket_heals(env: Env, hosts: Lab) -> None:
    lb, client = _lb(env, hosts)
    sock = env.api.amphora_dir(lb["id"]) / "stats.sock"
    sock.unlink()
    time.sleep(3)  # three health rounds
    assert env.api.lb(lb["id"])["operating_status"] == "ONLINE"
    members = env.api.members(lb["id"])
    assert {m["operating_status"] for m in members.values()} == {"ONLINE"}
    # a runtime-API change (weight 0 drains be1) still reaches the running haproxy
    be1 = members[BACKENDS[0]]["id"]
    pool = env.api.pool_id(lb["id"])
    env.api.change(lb["id"], "PUT", f"/v2/lbaas/pools/{pool}/members/{be1}",
                   {"member": {"weight": 0}})
    assert set(hosts.names(client, url(lb["vip_address"]), 6)) == {"be2"}


@pytest.mark.parametrize("fault", ["random bytes", "a directory"])
def test_an_unreadable_haproxy_cfg_heals_on_the_next_change(env: Env, hosts: Lab,
                                                             fault: str) -> None:
    lb, client = _lb(env, hosts)
    config = _config(env, lb["id"])
    config.unlink()
    if fault == "a directory":
        config.mkdir()
    else:
        config.write_bytes(os.urandom(4096))
    pool = env.api.pool_id(lb["id"])
    env.api.change(lb["id"], "POST", f"/v2/lbaas/pools/{pool}/members",
                   {"member": {"address": BACKENDS[0], "protocol_port": 8081}})
    assert config.is_file() and config.read_text().startswith("# Configuration for")
    assert _serves_both(hosts, client, lb)


def test_one_pool_holds_a_thousand_health_checked_members(env: Env, hosts: Lab) -> None:
    lb, client = _lb(env, hosts)
    pool = env.api.pool_id(lb["id"])
    # Two that answer, 998 that refuse (closed ports on the same hosts: no ARP storm).
    members = [{"address": a, "protocol_port": 8080} for a in BACKENDS]
    members += [{"address": BACKENDS[i % 2], "protocol_port": 20000 + i} for i in range(998)]
    env.api.change(lb["id"], "PUT", f"/v2/lbaas/pools/{pool}/members", {"members": members},
                   timeout=120)
    config = _config(env, lb["id"]).read_text()
    assert config.count("\n    server ") == 1000
    assert config.count(" check inter ") == 1000
    assert wait_for(lambda: _serves_both(hosts, client, lb), 30, 0.5)
    directory = env.api.amphora_dir(lb["id"])
    pids = HaproxyProcess(directory, namespace_name(directory.name)).all_pids()
    assert pids, "haproxy is not running"
    assert "Cannot raise FD limit" not in env.api.tail(400)
