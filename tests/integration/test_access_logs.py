"""Access logs end to end (issue 13, item 3): real HTTP and TCP requests through a VIP
come out as lines of `<state-dir>/logs/<lb_id>.log` with the listener, pool and member ids
and the status; a listener with connection_logging false writes nothing; query strings,
Authorization and Cookie never reach the file; both amphorae of an ACTIVE_STANDBY pair
log into the LB's one file, and nslb restarting keeps collecting.

Network: 10.206.0.0/24 on its own bridge (physnet `logphys`), namespaces `<prefix>log-*`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nslb.amphora import runtime_api
from nslb.amphora.keepalived_process import KeepalivedProcess
from nslb.netns.names import namespace_name
from tests.integration.api_env import PROJECT, Api, flat_subnet, serving
from tests.integration.conftest import PREFIX, Lab, sh, wait_for

BACKENDS = ["10.206.0.21", "10.206.0.22"]
CLIENT = "10.206.0.50"
SECRETS = ("qs-secret-1", "auth-secret-2", "cookie-secret-3")
# <time> <amphora> <project> <lb> <listener> <ip> <port> <date> "<request>" <status> <bytes>
# <uploaded> <ssl verify> "<ssl dn>" <pool> <member> <total time> <termination>
LINE = re.compile(
    r'(?P<ts>\S+) (?P<amphora>\S+) (?P<project>\S+) (?P<lb>\S+) (?P<listener>\S+) '
    r'(?P<ip>\S+) (?P<port>\d+) (?P<date>\S+) (?P<request>"[^"]*"|-) (?P<status>\S+) '
    r'(?P<bytes>\d+) (?P<uploaded>\d+) (?P<verify>\S+) (?P<dn>"[^"]*") (?P<pool>\S+) '
    r'(?P<member>\S+) (?P<time>\d+) (?P<term>\S+)')


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    flavor: str  # ACTIVE_STANDBY


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving(tag=f"{PREFIX}log", physnet="logphys") as (api, lab):
        subnet = flat_subnet(api, "logphys", "10.206.0.0/24", "10.206.0.100", "10.206.0.199")
        profile = api.call("POST", "/v2/lbaas/flavorprofiles", 201, {"flavorprofile": {
            "name": "log-pair", "provider_name": "amphora",
            "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})}})
        flavor = api.call("POST", "/v2/lbaas/flavors", 201, {"flavor": {
            "name": "log-pair", "flavor_profile_id": profile["flavorprofile"]["id"]}})
        for i, address in enumerate(BACKENDS, start=1):
            lab.serve(lab.host(f"be{i}", [f"{address}/24"]), f"be{i}")
        lab.host("cl", [f"{CLIENT}/24"])
        yield Env(api, lab, subnet, flavor["flavor"]["id"])


def _pool(name: str, protocol: str) -> dict[str, object]:
    return {"name": name, "protocol": protocol, "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": a, "protocol_port": 8080} for a in BACKENDS]}


def _lb_body(env: Env, **lb: object) -> dict[str, object]:
    return {"name": "logs", "vip_subnet_id": env.subnet, **lb, "listeners": [
        {"name": "web", "protocol": "HTTP", "protocol_port": 80,
         "default_pool": _pool("web", "HTTP")},
        {"name": "raw", "protocol": "TCP", "protocol_port": 8443,
         "default_pool": _pool("raw", "TCP")},
        {"name": "quiet", "protocol": "HTTP", "protocol_port": 81, "connection_logging": False,
         "default_pool": _pool("quiet", "HTTP")}]}


def _tree(api: Api, lb_id: str) -> dict[str, dict[str, object]]:
    """listener name -> its id, its pool's id and its members' ids."""
    out = {}
    for listener in api.status(lb_id)["listeners"]:
        pool = listener["pools"][0]
        out[listener["name"]] = {"id": listener["id"], "pool": pool["id"],
                                 "members": {m["id"] for m in pool["members"]}}
    return out


def _requests(env: Env, vip: str, port: int, count: int, path: str = "/") -> None:
    answers = env.lab.probe(f"{env.lab.tag}-cl", f"http://{vip}:{port}{path}", count,
                            options=("--header", f"Authorization: Bearer {SECRETS[1]}",
                                     "--header", f"Cookie: session={SECRETS[2]}"))
    assert all("name" in a for a in answers), answers


def _lines(api: Api, lb_id: str) -> list[re.Match[str]]:
    path = api.state_dir / "logs" / f"{lb_id}.log"
    if not path.exists():
        return []
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text
    matches = [LINE.fullmatch(line) for line in text.splitlines()]
    assert all(matches), text
    return [m for m in matches if m is not None]


def _of(lines: list[re.Match[str]], listener: dict[str, object]) -> list[re.Match[str]]:
    return [m for m in lines if m["listener"] == listener["id"]]


def test_http_and_tcp_requests_are_logged_with_octavia_ids(env: Env) -> None:
    lb = env.api.create_lb(_lb_body(env))
    lb_id, vip = str(lb["id"]), str(lb["vip_address"])
    tree = _tree(env.api, lb_id)
    amphora = env.api.amphora_id(lb_id)
    # the quiet listener's requests come first: had they been logged, they would be read
    # before the others
    _requests(env, vip, 81, 3)
    _requests(env, vip, 80, 4, f"/logged/path?token={SECRETS[0]}")
    _requests(env, vip, 8443, 2, f"/raw?token={SECRETS[0]}")
    assert wait_for(lambda: len(_of(_lines(env.api, lb_id), tree["web"])) == 4
                    and len(_of(_lines(env.api, lb_id), tree["raw"])) == 2, 10, 0.1), \
        _lines(env.api, lb_id)
    lines = _lines(env.api, lb_id)
    assert len(lines) == 6 and not _of(lines, tree["quiet"])
    for line in lines:
        assert (line["amphora"], line["project"], line["lb"], line["ip"]) == (
            amphora, PROJECT, lb_id, CLIENT)
    for line in _of(lines, tree["web"]):
        assert line["request"] == '"GET /logged/path HTTP/1.1"'
        assert line["status"] == "200" and int(line["bytes"]) > 0
        assert line["pool"] == tree["web"]["pool"]
        assert line["member"] in tree["web"]["members"]
    # round robin: both members served
    assert {m["member"] for m in _of(lines, tree["web"])} == tree["web"]["members"]
    for line in _of(lines, tree["raw"]):
        assert (line["request"], line["status"]) == ("-", "-")
        assert line["pool"] == tree["raw"]["pool"]
        assert line["member"] in tree["raw"]["members"]
    logs = env.api.state_dir / "logs"
    assert stat.S_IMODE(logs.stat().st_mode) == 0o750
    assert stat.S_IMODE((logs / f"{lb_id}.log").stat().st_mode) == 0o640


def test_turning_connection_logging_off_and_on(env: Env) -> None:
    lb = env.api.create_lb(_lb_body(env))
    lb_id, vip = str(lb["id"]), str(lb["vip_address"])
    web = _tree(env.api, lb_id)["web"]
    env.api.change(lb_id, "PUT", f"/v2/lbaas/listeners/{web['id']}",
                   {"listener": {"connection_logging": False}})
    _requests(env, vip, 80, 3)
    env.api.change(lb_id, "PUT", f"/v2/lbaas/listeners/{web['id']}",
                   {"listener": {"connection_logging": True}})
    _requests(env, vip, 80, 2, "/again")
    assert wait_for(lambda: len(_of(_lines(env.api, lb_id), web)) >= 2, 10, 0.1)
    assert [m["request"] for m in _of(_lines(env.api, lb_id), web)] == [
        '"GET /again HTTP/1.1"'] * 2


def _holder(dirs: list[Path], vip: str) -> list[Path]:
    out = []
    for directory in dirs:
        addresses = sh("ip", "netns", "exec", namespace_name(directory.name), "ip", "-o",
                       "addr", "show", check=False)
        if f" {vip}/" in addresses:
            out.append(directory)
    return out


def test_both_amphorae_of_a_pair_log_into_the_lb_file(env: Env) -> None:
    lb = env.api.create_lb(_lb_body(env, flavor_id=env.flavor))
    lb_id, vip = str(lb["id"]), str(lb["vip_address"])
    web = _tree(env.api, lb_id)["web"]
    dirs = env.api.amphora_dirs(lb_id)
    assert len(dirs) == 2
    assert wait_for(lambda: len(_holder(dirs, vip)) == 1, 15, 0.1)
    (active,) = _holder(dirs, vip)
    (standby,) = [d for d in dirs if d != active]
    _requests(env, vip, 80, 2, "/before")
    # the active amphora's keepalived dies: the VIP moves to the standby
    keepalived = KeepalivedProcess(active, namespace_name(active.name))
    for pidfile in (keepalived.pidfile, keepalived.vrrp_pidfile):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    assert wait_for(lambda: _holder(dirs, vip) == [standby], 20, 0.1)
    # nslb restarts meanwhile: the new collector takes over the socket
    env.api.terminate()
    env.api.start()
    _requests(env, vip, 80, 2, "/after")
    assert wait_for(lambda: len(_of(_lines(env.api, lb_id), web)) == 4, 10, 0.1), \
        _lines(env.api, lb_id)
    by_path = {(m["request"], m["amphora"]) for m in _of(_lines(env.api, lb_id), web)}
    assert by_path == {('"GET /before HTTP/1.1"', active.name),
                       ('"GET /after HTTP/1.1"', standby.name)}


def _reloads(api: Api, lb_id: str) -> int:
    """How often the LB's master has reloaded (the `show proc` master line)."""
    answer = runtime_api.command(api.amphora_dir(lb_id) / "master.sock", "show proc")
    master = next(line for line in answer.splitlines() if " master " in f" {line} ")
    return int(master.split()[2])


def test_reloads_under_keepalive_load_lose_and_double_no_line(env: Env, tmp_path: Path) -> None:
    """haproxy logs into a ring per worker: across reloads the old worker's ring is read
    to its end and the new one's from its start, so every request has exactly one line."""
    lb = env.api.create_lb(_lb_body(env))
    lb_id, vip = str(lb["id"]), str(lb["vip_address"])
    web = _tree(env.api, lb_id)["web"]
    stop = tmp_path / "stop"
    loops = [env.lab.start_loop(f"{env.lab.tag}-cl", f"http://{vip}/ka", stop, keepalive=True)
             for _ in range(3)]
    time.sleep(0.5)
    reloads = _reloads(env.api, lb_id)
    for timeout in (40000, 40001, 40002, 40003):  # each a reload (test_api_reloads)
        env.api.change(lb_id, "PUT", f"/v2/lbaas/listeners/{web['id']}",
                       {"listener": {"timeout_client_data": timeout}})
        time.sleep(0.4)
    assert _reloads(env.api, lb_id) == reloads + 4
    stop.touch()
    results = [json.loads(loop.communicate(timeout=30)[0]) for loop in loops]
    sent = sum(int(r["ok"]) for r in results)
    assert sent > 100 and not any(r["errors"] for r in results), results

    def logged() -> list[re.Match[str]]:
        return [m for m in _of(_lines(env.api, lb_id), web)
                if m["request"] == '"GET /ka HTTP/1.1"' and m["status"] == "200"]

    # an old worker's ring is read until it exits (hard-stop-after 10 s at the latest)
    assert wait_for(lambda: len(logged()) >= sent, 20, 0.2), (len(logged()), sent)
    time.sleep(1)
    lines = logged()
    assert len(lines) == sent
    assert len({(m["ts"], m["port"]) for m in lines}) == sent  # no line twice
    assert len({m["amphora"] for m in lines}) == 1
