"""`nslb trace` and `nslb doctor` as an operator runs them, against a real `nslb serve` with
real namespaces, haproxy and keepalived (issue 13, parts 4 and 5).

A SINGLE and an ACTIVE_STANDBY load balancer are traced healthy (amphorae, roles, the VIP
holder, bridge, haproxy and members). Then, with nslb serve stopped so that nothing
repairs behind the test's back, the test breaks what it built: a veth's bridge port is
deleted, haproxy is killed, the VIP is added to the standby's namespace too, a namespace
is deleted and a leftover amphora directory is planted, and trace must name each one.
Doctor runs on this host and inside a namespace whose rp_filter the test made strict.
Addresses: 10.250.130.0/24, inside the lab only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nslb.amphora.haproxy_process import HaproxyProcess
from nslb.config import Settings
from nslb.netns.names import host_ifname, namespace_name
from nslb.ops import trace_read, trace_view
from nslb.ops.findings import EXIT
from tests.integration.api_env import (
    FAST_MONITOR,
    Api,
    flat_subnet,
    http_lb,
    per_test,
    serving,
)
from tests.integration.conftest import STARTED_PIDS, Lab, sh, wait_for

NET = "10.250.130"
MEMBER = f"{NET}.21"


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    flavor: str  # an ACTIVE_STANDBY flavor


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving() as (api, lab):
        subnet = flat_subnet(api, "physnet1", f"{NET}.0/24", f"{NET}.100", f"{NET}.199")
        data = json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})
        profile = api.call("POST", "/v2/lbaas/flavorprofiles", 201, {"flavorprofile": {
            "name": "trace-as", "provider_name": "amphora", "flavor_data": data}})
        flavor = api.call("POST", "/v2/lbaas/flavors", 201, {"flavor": {
            "name": "trace-ha", "flavor_profile_id": profile["flavorprofile"]["id"],
            "enabled": True}})
        yield Env(api, lab, subnet, str(flavor["flavor"]["id"]))


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    with per_test(env.api, env.lab) as lab:
        lab.serve(lab.host("be1", [f"{MEMBER}/24"]), "be1")
        yield lab


def nslb(*args: str, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an operator runs it (a new process: a second or more under load,
    so the tests call it for what only the CLI shows and trace in-process otherwise)."""
    command = [sys.executable, "-m", "nslb.cli.main", *args]
    if namespace is not None:
        command = ["ip", "netns", "exec", namespace, *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED_PIDS.add(proc.pid)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def cli_trace(env: Env, lb: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return nslb("trace", lb, "--state-dir", str(env.api.state_dir),
                "--physnet", f"physnet1:{env.lab.bridge}", *extra)


def traced(env: Env, lb: str) -> dict[str, Any]:
    """What `nslb trace --json` prints, from the same code in this process."""
    settings = Settings(state_dir=env.api.state_dir, physnet=[f"physnet1:{env.lab.bridge}"])
    return dict(json.loads(trace_view.as_json(trace_read.trace(settings, lb))))


def settled(env: Env, lb: str) -> dict[str, Any]:
    """The trace once it finds nothing wrong (members checked UP, VRRP elected)."""
    found: dict[str, Any] = {}

    def clean() -> bool:
        found.clear()
        found.update(traced(env, lb))
        return bool(found["ok"])

    assert wait_for(clean, 20, 0.2), found.get("problems")
    return found


def create(env: Env, name: str, ha: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {"flavor_id": env.flavor} if ha else {}
    return env.api.create_lb(http_lb(env.subnet, [{"address": MEMBER}], monitor=FAST_MONITOR,
                                     name=name, **extra))


def messages(data: dict[str, Any]) -> list[str]:
    return [f"{p['severity']}: {p['where']}: {p['message']}" for p in data["problems"]]


def test_trace_healthy_lbs_then_what_was_broken(env: Env, hosts: Lab) -> None:
    single = create(env, "trace-single")
    pair = create(env, "trace-pair", ha=True)
    single_data = _healthy_single(env, single)
    pair_data = _healthy_pair(env, pair)

    env.api.terminate()  # nothing repairs what the test breaks while it traces
    try:
        # SINGLE: the veth's bridge port goes, then its haproxy
        (amphora,) = single_data["amphorae"]
        veth = host_ifname(single["vip_port_id"])
        sh("ip", "link", "set", veth, "nomaster")
        proc = HaproxyProcess(Path(amphora["directory"]), amphora["namespace"])
        for pid in proc.all_pids():
            os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: proc.master_pid() is None, 5)
        result = cli_trace(env, "trace-single", "--json")
        data = json.loads(result.stdout)
        found = messages(data)
        assert result.returncode == EXIT["error"], found
        where = f"amphora {amphora['id'][:8]}"
        assert any(m.startswith(f"error: {where} / nsv") and "veth without a bridge: "
                   f"{veth} is not a port of any bridge" in m for m in found), found
        assert f"error: {where} / haproxy: haproxy is not running" in found, found

        # ACTIVE_STANDBY: the VIP is added to the standby's namespace too
        (standby,) = [a for a in pair_data["amphorae"] if not a["holds_vip"]]
        (holder,) = [a for a in pair_data["amphorae"] if a["holds_vip"]]
        inside = next(i["name"] for i in standby["interfaces"] if i["kind"] == "veth")
        sh("ip", "netns", "exec", standby["namespace"], "ip", "addr", "add",
           f"{pair['vip_address']}/24", "dev", inside, "nodad")
        result = cli_trace(env, "trace-pair")
        assert result.returncode == EXIT["error"], result.stdout
        assert f"  ERROR   VIP {pair['vip_address']}" in result.stdout
        data = traced(env, "trace-pair")
        found = messages(data)
        assert sorted(data["vip_holders"]) == sorted([holder["id"], standby["id"]])
        assert any(m.startswith(f"error: VIP {pair['vip_address']}: held by 2 namespaces")
                   for m in found), found
        assert any(m.startswith(f"error: amphora {standby['id'][:8]}: holds the VIP but its "
                                "VRRP state is BACKUP") for m in found), found

        # a namespace deleted under its amphora, and an amphora directory no row owns
        sh("ip", "netns", "del", namespace_name(amphora["id"]))
        stray = env.api.state_dir / "amp" / str(uuid.uuid4())
        stray.mkdir(parents=True)
        (stray / "haproxy.cfg").write_text(f"# Configuration for loadbalancer {single['id']}\n")
        found = messages(traced(env, str(single["id"])))
        assert f"error: {where}: {amphora['namespace']} is in the database (ALLOCATED) but " \
               "not on the host" in found, found
        assert any(m.startswith(f"warning: amphora {stray.name[:8]}: ") and
                   "no live amphora row owns it" in m for m in found), found
    finally:
        env.api.start()  # repairs, and removes the planted directory as an orphan


def _healthy_single(env: Env, single: dict[str, Any]) -> dict[str, Any]:
    data = settled(env, "trace-single")  # by name
    (amphora,) = data["amphorae"]
    assert amphora["role"] == "STANDALONE" and amphora["status"] == "ALLOCATED"
    assert data["vip_holders"] == [amphora["id"]] and amphora["holds_vip"]
    veth = next(i for i in amphora["interfaces"] if i["kind"] == "veth")
    assert f"{single['vip_address']}/24" in veth["addresses"]
    assert veth["peer"]["name"] == host_ifname(single["vip_port_id"])
    assert veth["peer"]["bridge"]["name"] == env.lab.bridge
    assert os.path.exists(f"/proc/{amphora['haproxy']['master_pid']}")
    assert amphora["haproxy"]["workers"] and amphora["haproxy"]["in_namespace"]
    (listener,) = amphora["listeners"]
    assert (listener["protocol"], listener["port"], listener["status"]) == ("HTTP", 80, "OPEN")
    (server,) = amphora["backends"][0]["servers"]
    assert (server["address"], server["status"]) == (f"{MEMBER}:8080", "UP")
    assert amphora["applied"]["generation"] == data["lb"]["generation"]
    assert amphora["applied"]["hash"] == amphora["applied"]["db_hash"]
    return data


def _healthy_pair(env: Env, pair: dict[str, Any]) -> dict[str, Any]:
    data = settled(env, str(pair["id"]))  # by id
    assert data["lb"]["topology"] == "ACTIVE_STANDBY"
    assert {a["role"] for a in data["amphorae"]} == {"MASTER", "BACKUP"}
    (holder,) = [a for a in data["amphorae"] if a["holds_vip"]]
    assert data["vip_holders"] == [holder["id"]]
    assert holder["keepalived"]["state"] == "MASTER"
    (standby,) = [a for a in data["amphorae"] if not a["holds_vip"]]
    assert standby["keepalived"]["state"] == "BACKUP"
    for amp in data["amphorae"]:
        assert amp["keepalived"]["pid"] and amp["keepalived"]["in_namespace"]
        assert amp["haproxy"]["master_pid"] and amp["listeners"][0]["status"] == "OPEN"
        assert amp["planned"][0]["floating"] == [f"{pair['vip_address']}/24"]
    text = cli_trace(env, "trace-pair")
    assert text.returncode == 0, text.stdout
    assert f"├── amphora {data['amphorae'][0]['id']}, role" in text.stdout
    assert "holds the VIP" in text.stdout and "VRRP state MASTER" in text.stdout
    assert f"bridge {env.lab.bridge} up" in text.stdout
    assert text.stdout.rstrip().endswith(f"(VIP held by amphora {holder['id'][:8]})")
    return data


def test_trace_of_something_that_does_not_exist(env: Env) -> None:
    result = cli_trace(env, "no-such-lb")
    assert result.returncode == 3
    assert "no load balancer or amphora with id or name 'no-such-lb'" in result.stderr
    with pytest.raises(trace_read.TraceError, match="no database at"):
        trace_read.trace(Settings(state_dir=Path("/nonexistent-nslb-state")), "x")


def test_doctor_on_this_host(env: Env) -> None:
    result = nslb("doctor", "--json", "--state-dir", str(env.api.state_dir),
                  "--physnet", f"physnet1:{env.lab.bridge}")
    data = json.loads(result.stdout)
    severities = {f["severity"] for f in data["findings"]}
    expected = max(EXIT[s] for s in severities)
    assert result.returncode == data["exit_status"] == expected
    by_check = {f["check"]: f for f in data["findings"]}
    assert by_check["haproxy"]["severity"] == "ok"
    assert by_check["haproxy_account"]["severity"] == "ok"
    assert by_check["state_dir"]["severity"] == "ok", by_check["state_dir"]
    for finding in data["findings"]:
        if finding["severity"] in ("warning", "error"):
            assert finding["why"] and finding["fix"], finding
    # the readings are this host's: what doctor says about rp_filter follows /proc
    host_value = Path("/proc/sys/net/ipv4/conf/all/rp_filter").read_text().strip()
    strict = host_value == "1" or \
        Path("/proc/sys/net/ipv4/conf/default/rp_filter").read_text().strip() == "1"
    assert by_check["sysctl.rp_filter"]["severity"] == ("warning" if strict else "ok")


def test_doctor_reports_a_strict_rp_filter_in_a_namespace(env: Env) -> None:
    lab = Lab(bridge=env.lab.bridge, tag=env.lab.tag + "d")
    try:
        namespace = f"{lab.tag}-doc"
        sh("ip", "netns", "add", namespace)
        lab.namespaces.append(namespace)
        sh("ip", "netns", "exec", namespace, "sysctl", "-q", "-w",
           "net.ipv4.conf.all.rp_filter=1")
        result = nslb("doctor", "--json", "--state-dir", str(env.api.state_dir),
                      namespace=namespace)
        data = json.loads(result.stdout)
        finding = next(f for f in data["findings"] if f["check"] == "sysctl.rp_filter")
        assert finding["severity"] == "warning"
        assert finding["summary"] == "strict reverse-path filtering: rp_filter all=1"
        assert "net.ipv4.conf.all.rp_filter=2" in finding["fix"]
        assert result.returncode == data["exit_status"] >= EXIT["warning"]
        assert data["readings"]["sysctls"]["net.ipv4.conf.all.rp_filter"] == "1"
    finally:
        lab.cleanup()
