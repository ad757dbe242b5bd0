"""`nslb trace` and `nslb doctor` as an operator runs them, against a real `nslb serve` with
real namespaces, haproxy and keepalived (issue 13, parts 4 and 5).

A SINGLE and an ACTIVE_STANDBY load balancer are traced healthy (amphorae, roles, the VIP
holder, bridge, haproxy and members). Then, with nslb serve stopped so that nothing
repairs behind the test's back, the test breaks what it built: a veth's bridge port is
deleted, haproxy is killed, the VIP is added to the standby's namespace too, a namespace
is deleted and a leftover amphora directory is planted, and trace must name each one.
A third LB on a VLAN network with a gateway and a host route shows the port's VLAN
segment and the routes inside, and loses its default route. The lab bridge has a VXLAN
uplink (kept down: nothing leaves the host) that the trace must show with its VNI, and
for a while a tap without a reader (up, no carrier) that it must warn about.
Doctor runs on this host and inside a namespace whose rp_filter the test made strict.
Addresses: 10.207.13.0/24 (flat) and 10.207.14.0/24 (VLAN 207), inside the lab only;
every bridge, physnet and namespace the test names contains "trc".
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nslb.amphora.haproxy_process import HaproxyProcess
from nslb.config import Settings
from nslb.netns.names import host_ifname, namespace_name, vlan_bridge_name
from nslb.ops import trace_read, trace_view
from nslb.ops.findings import EXIT
from tests.integration.api_env import FAST_MONITOR, Api, http_lb, per_test
from tests.integration.api_env import serving as api_env_serving
from tests.integration.conftest import PREFIX, STARTED_PIDS, Lab, sh, wait_for
from tests.launcher import nslb_env

NET = "10.207.13"
MEMBER = f"{NET}.21"
VLAN_NET, VLAN = "10.207.14", 207
PHYSNET = "trcnet"
# Lab tags: none is a prefix of another (a lab's cleanup removes links by its prefix).
MODULE_TAG, TEST_TAG, DOCTOR_TAG = f"{PREFIX}trcm", f"{PREFIX}trct", f"{PREFIX}trcd"


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    vlan_subnet: str
    flavor: str  # an ACTIVE_STANDBY flavor
    vxlan: str   # the VXLAN uplink of the lab bridge
    vni: int


@contextmanager
def serving() -> Iterator[tuple[Api, Lab]]:
    """api_env.serving with this module's names: a lab bridge `<prefix>trcmbr` as physnet
    `trcnet`, and a server on it; LBs, server, lab and state dir removed whatever happens."""
    with api_env_serving(tag=MODULE_TAG, physnet=PHYSNET) as (api, lab):
        yield api, lab


def vxlan_uplink(lab: Lab) -> tuple[str, int]:
    """A VXLAN port on the lab bridge, as an operator stretches a physnet to other hosts.
    It stays down: nothing is encapsulated, nothing leaves the host."""
    name, vni = f"{lab.tag}vx", random.randrange(2_070_000, 2_079_999)
    sh("ip", "link", "add", name, "type", "vxlan", "id", str(vni), "remote", f"{NET}.254",
       "dstport", "4789", "nolearning")
    sh("ip", "link", "set", name, "master", lab.bridge)
    return name, vni


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving() as (api, lab):
        vxlan, vni = vxlan_uplink(lab)
        flat = api.network("trc-flat", **{"provider:network_type": "flat",
                                          "provider:physical_network": PHYSNET})
        subnet = api.subnet(flat["id"], f"{NET}.0/24", gateway_ip=None, allocation_pools=[
            {"start": f"{NET}.100", "end": f"{NET}.199"}])["id"]
        vlan = api.network("trc-vlan", **{"provider:network_type": "vlan",
                                          "provider:physical_network": PHYSNET,
                                          "provider:segmentation_id": VLAN})
        vlan_subnet = api.subnet(
            vlan["id"], f"{VLAN_NET}.0/24", gateway_ip=f"{VLAN_NET}.1",
            allocation_pools=[{"start": f"{VLAN_NET}.100", "end": f"{VLAN_NET}.199"}],
            host_routes=[{"destination": "10.207.99.0/24", "nexthop": f"{VLAN_NET}.254"}],
        )["id"]
        data = json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})
        profile = api.call("POST", "/v2/lbaas/flavorprofiles", 201, {"flavorprofile": {
            "name": "trace-as", "provider_name": "amphora", "flavor_data": data}})
        flavor = api.call("POST", "/v2/lbaas/flavors", 201, {"flavor": {
            "name": "trace-ha", "flavor_profile_id": profile["flavorprofile"]["id"],
            "enabled": True}})
        yield Env(api, lab, str(subnet), str(vlan_subnet), str(flavor["flavor"]["id"]),
                  vxlan, vni)


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    """A backend `<prefix>trct-be1` on the flat network; the test's LBs are deleted after
    it through the API."""
    with per_test(env.api, env.lab, tag=TEST_TAG) as lab:
        lab.serve(lab.host("be1", [f"{MEMBER}/24"]), "be1")
        yield lab


def nslb(*args: str, namespace: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an operator runs it (a new process: a second or more under load,
    so the tests call it for what only the CLI shows and trace in-process otherwise)."""
    command = [sys.executable, "-m", "nslb.cli.main", *args]
    if namespace is not None:
        command = ["ip", "netns", "exec", namespace, *command]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=nslb_env())
    STARTED_PIDS.add(proc.pid)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def cli_trace(env: Env, lb: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return nslb("trace", lb, "--state-dir", str(env.api.state_dir),
                "--physnet", f"{PHYSNET}:{env.lab.bridge}", *extra)


def traced(env: Env, lb: str) -> dict[str, Any]:
    """What `nslb trace --json` prints, from the same code in this process."""
    settings = Settings(state_dir=env.api.state_dir, physnet=[f"{PHYSNET}:{env.lab.bridge}"])
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
    # no monitor: no backend is needed on the VLAN segment for the trace to be clean
    vlan = env.api.create_lb(http_lb(env.vlan_subnet, [{"address": f"{VLAN_NET}.21"}],
                                     name="trace-vlan"))
    single_data = _healthy_single(env, single)
    pair_data = _healthy_pair(env, pair)
    vlan_data = _healthy_vlan(env, vlan)

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

        # an uplink set up without carrier (a tap nobody reads: frames to it are dropped)
        tap = f"{env.lab.tag}tap"
        sh("ip", "tuntap", "add", tap, "mode", "tap")
        try:
            sh("ip", "link", "set", tap, "master", env.lab.bridge, "up")
            found = messages(traced(env, "trace-pair"))
            assert f"warning: bridge {env.lab.bridge} / uplink {tap}: set up but without " \
                   "carrier: nothing on this bridge reaches other hosts through it" in found, found
        finally:
            sh("ip", "link", "del", tap)

        # the VLAN LB's default route is deleted inside its namespace
        (vlan_amphora,) = vlan_data["amphorae"]
        sh("ip", "netns", "exec", vlan_amphora["namespace"], "ip", "route", "del", "default")
        found = messages(traced(env, "trace-vlan"))
        assert any(m.startswith(f"error: amphora {vlan_amphora['id'][:8]} / nsv") and
                   m.endswith(f"default route to 0.0.0.0/0 via {VLAN_NET}.1 is missing: "
                              "replies to clients behind it are lost") for m in found), found

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
    assert {"name": env.vxlan, "kind": "vxlan", "vni": env.vni, "vlan_id": None,
            "remote": f"{NET}.254", "port": 4789, "state": "admin down"} \
        in veth["peer"]["bridge"]["uplinks"]
    assert {"destination": f"{NET}.0/24", "gateway": None, "interface": veth["name"]} \
        in amphora["routes"]
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


def _healthy_vlan(env: Env, vlan: dict[str, Any]) -> dict[str, Any]:
    data = settled(env, "trace-vlan")
    (amphora,) = data["amphorae"]
    (plan,) = amphora["planned"]
    assert (plan["network_type"], plan["vlan"], plan["bridge"]) == ("vlan", VLAN,
                                                                    env.lab.bridge)
    veth = next(i for i in amphora["interfaces"] if i["port_id"] == plan["port_id"])
    assert f"{vlan['vip_address']}/24" in veth["addresses"]
    bridge = veth["peer"]["bridge"]
    filtering = Path(f"/sys/class/net/{env.lab.bridge}/bridge/vlan_filtering")
    if filtering.exists() and filtering.read_text().strip() == "1":
        # an access port of the VLAN on the physnet bridge
        assert bridge["name"] == env.lab.bridge
        assert [v["vid"] for v in veth["peer"]["vlans"] if v["pvid"]] == [VLAN]
    else:  # this kernel cannot filter: the segment has a bridge of its own
        assert bridge["name"] == vlan_bridge_name(env.lab.bridge, VLAN)
    routes = {(r["destination"], r["gateway"]) for r in amphora["routes"]
              if r["interface"] == veth["name"]}
    assert {("0.0.0.0/0", f"{VLAN_NET}.1"), ("10.207.99.0/24", f"{VLAN_NET}.254"),
            (f"{VLAN_NET}.0/24", None)} <= routes
    text = cli_trace(env, str(vlan["id"])).stdout
    assert f"vlan on {PHYSNET}, VLAN {VLAN} -> bridge {env.lab.bridge}" in text
    assert f"0.0.0.0/0 via {VLAN_NET}.1 dev {veth['name']}" in text
    return data


def test_trace_of_something_that_does_not_exist(env: Env) -> None:
    result = cli_trace(env, "no-such-lb")
    assert result.returncode == 3
    assert "no load balancer or amphora with id or name 'no-such-lb'" in result.stderr
    with pytest.raises(trace_read.TraceError, match="no database at"):
        trace_read.trace(Settings(state_dir=Path("/nonexistent-nslb-state")), "x")


def test_doctor_on_this_host(env: Env) -> None:
    result = nslb("doctor", "--json", "--state-dir", str(env.api.state_dir),
                  "--physnet", f"{PHYSNET}:{env.lab.bridge}")
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
    lab = Lab(bridge=env.lab.bridge, tag=DOCTOR_TAG)
    try:
        namespace = lab.namespace("doc")
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
