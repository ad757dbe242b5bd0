"""UDP load balancing in the kernel (issue 12) through the HTTP API of a real `nslb serve`,
checked with real UDP traffic: weights, SOURCE_IP persistence and its expiry, a killed
member taken out (DOWN in the status tree, its flow moved at once), admin state, a UDP and
a TCP listener on one port number, IPv6, stats, and flow logs of listeners with
connection_logging."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nslb.amphora.udp_agent import COUNTERS, COUNTERS_EVERY
from nslb.amphora.udp_process import UdpAgentProcess
from nslb.health.monitor import MAX_PERIOD
from nslb.netns.names import namespace_name
from tests.integration.api_env import LISTENERS, NET, POOLS, Api, flat_subnet
from tests.integration.conftest import Lab, sh, wait_for
from tests.integration.udp_env import (
    PHYSNET,
    UDP_MONITOR,
    Session,
    ask,
    echo,
    udp_hosts,
    udp_lb,
    udp_serving,
)

MEMBERS = ["10.202.1.21", "10.202.1.22"]
CLIENTS = ["10.202.1.50", "10.202.1.51"]
V6_MEMBERS = ["fd00:202::21", "fd00:202::22"]
V6_CLIENT = "fd00:202::50"


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with udp_serving() as (api, lab):
        yield Env(api, lab, flat_subnet(api, PHYSNET, "10.202.1.0/24", "10.202.1.100",
                                        "10.202.1.199"))


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    with udp_hosts(env.api, env.lab) as lab:
        yield lab


def members(lab: Lab, count: int = 2) -> list[dict[str, str]]:
    for i in range(count):
        echo(lab, lab.host(f"m{i + 1}", [f"{MEMBERS[i]}/24"]), f"m{i + 1}")
    return [{"address": a} for a in MEMBERS[:count]]


def client(lab: Lab, index: int = 0) -> str:
    return lab.host(f"c{index}", [f"{CLIENTS[index]}/24"])


def test_flows_spread_over_members_by_weight(env: Env, hosts: Lab) -> None:
    ms = members(hosts)
    ms[0]["weight"] = 3  # type: ignore[assignment]
    lb = env.api.create_lb(udp_lb(env.subnet, ms))
    names = ask(client(hosts), lb["vip_address"], 53, 40)
    assert Counter(names) == {"m1": 30, "m2": 10}, names
    assert wait_for(lambda: env.api.status(lb["id"])["operating_status"] == "ONLINE", 10)
    tree = env.api.status(lb["id"])
    assert {m["operating_status"] for m in tree["listeners"][0]["pools"][0]["members"]} == \
        {"NO_MONITOR"}
    listener_id = tree["listeners"][0]["id"]
    # the agent writes its counters every COUNTERS_EVERY s and an unmonitored amphora is
    # observed every MAX_PERIOD s: twice both is ample even on a loaded CI host
    assert wait_for(lambda: env.api.call("GET", f"{LISTENERS}/{listener_id}/stats")[
        "stats"]["total_connections"] >= 40, 2 * (COUNTERS_EVERY + MAX_PERIOD)), \
        _counting_evidence(env, lb["id"], listener_id)
    stats = env.api.call("GET", f"{LISTENERS}/{listener_id}/stats")["stats"]
    assert stats["bytes_in"] >= 40 * 4 and stats["bytes_out"] >= 40 * 2, stats
    # the 40 flows stay in conntrack for 30 s after their datagrams: counted as active
    assert 0 < stats["active_connections"] <= 40, stats


def _counting_evidence(env: Env, lb_id: str, listener_id: str) -> str:
    """What to look at when the flows are not counted: the API's stats, the agent's own
    counters file and the end of its log."""
    directory = env.api.amphora_dir(lb_id)
    found = [f"stats: {env.api.call('GET', f'{LISTENERS}/{listener_id}/stats')}"]
    for name in (COUNTERS, "udp-agent.log"):
        path = directory / name
        text = path.read_text(errors="replace")[-3000:] if path.exists() else "(missing)"
        found.append(f"{name}: {text}")
    return "the flows are not counted\n" + "\n".join(found)


def test_udp_and_tcp_listeners_share_port_53(env: Env, hosts: Lab) -> None:
    ms = members(hosts)
    hosts.serve(f"{hosts.tag}-m1", "web", port=8080)  # HTTP next to the UDP echo on m1
    lb = env.api.create_lb(udp_lb(env.subnet, ms[:1]))
    tcp = env.api.change(lb["id"], "POST", LISTENERS, {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 53}})["listener"]
    env.api.change(lb["id"], "POST", POOLS, {"pool": {
        "listener_id": tcp["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}})
    tcp_pool = env.api.call("GET", f"{LISTENERS}/{tcp['id']}")["listener"]["default_pool_id"]
    env.api.change(lb["id"], "POST", f"{POOLS}/{tcp_pool}/members", {"member": {
        "address": MEMBERS[0], "protocol_port": 8080}})
    cl = client(hosts)
    assert ask(cl, lb["vip_address"], 53, 3) == ["m1"] * 3
    assert hosts.names(cl, f"http://{lb['vip_address']}:53/", 3) == ["web"] * 3
    assert len(env.api.status(lb["id"])["listeners"]) == 2


def test_source_ip_algorithm_keeps_each_client_on_one_member(env: Env, hosts: Lab) -> None:
    lb = env.api.create_lb(udp_lb(env.subnet, members(hosts),
                                  pool={"lb_algorithm": "SOURCE_IP"}))
    for index in (0, 1):
        names = ask(client(hosts, index), lb["vip_address"], 53, 8)
        assert len(set(names)) == 1 and names[0] in ("m1", "m2"), names


def test_source_ip_persistence_keeps_a_client_then_expires(env: Env, hosts: Lab) -> None:
    sp = {"type": "SOURCE_IP", "persistence_timeout": 3}
    lb = env.api.create_lb(udp_lb(env.subnet, members(hosts), pool={"session_persistence": sp}))
    vip = lb["vip_address"]
    first, second = client(hosts, 0), client(hosts, 1)
    names = ask(first, vip, 53, 10)
    assert len(set(names)) == 1 and names[0] in ("m1", "m2"), names
    others = ask(second, vip, 53, 10)
    assert len(set(others)) == 1, others
    # A membership change replaces the rules; the persistence entries are carried over.
    pool_id = env.api.pool_id(lb["id"])
    other = env.api.members(lb["id"])[MEMBERS[1] if names[0] == "m1" else MEMBERS[0]]["id"]
    for weight in (2, 1):
        env.api.change(lb["id"], "PUT", f"{POOLS}/{pool_id}/members/{other}",
                       {"member": {"weight": weight}})
        assert ask(first, vip, 53, 4) == names[:4]
    # Round robin resumes for a client whose entry expired: after the timeout, its next
    # flows spread again (the first is sticky anew, so look at several fresh clients' worth).
    time.sleep(4)
    after = [ask(first, vip, 53, 1)[0]]
    time.sleep(4)
    after += ask(first, vip, 53, 1)
    time.sleep(4)
    after += ask(first, vip, 53, 1)
    assert set(after) == {"m1", "m2"}, after


def test_a_killed_member_goes_down_and_its_flow_moves(env: Env, hosts: Lab) -> None:
    ms = members(hosts)
    lb = env.api.create_lb(udp_lb(env.subnet, ms, monitor=UDP_MONITOR))
    cl = client(hosts)
    assert wait_for(lambda: {m["operating_status"] for m in env.api.members(lb["id"]).values()}
                    == {"ONLINE"}, 15), env.api.members(lb["id"])
    flow = Session(hosts, cl, lb["vip_address"], 53)
    served = flow.ask()
    assert served in ("m1", "m2") and flow.ask() == served  # one flow, one member
    victim = hosts.procs[0 if served == "m1" else 1]
    hosts.stop(victim)
    address = MEMBERS[0 if served == "m1" else 1]
    assert wait_for(lambda: env.api.members(lb["id"])[address]["operating_status"] == "ERROR",
                    15), env.api.members(lb["id"])
    assert env.api.status(lb["id"])["operating_status"] == "DEGRADED"
    other = "m2" if served == "m1" else "m1"
    # The same flow (same socket) is answered by the other member at once: its conntrack
    # entry was deleted when the member went down.
    assert flow.ask() == other
    assert set(ask(cl, lb["vip_address"], 53, 6)) == {other}


def test_admin_state_down_member_and_listener(env: Env, hosts: Lab) -> None:
    lb = env.api.create_lb(udp_lb(env.subnet, members(hosts)))
    cl = client(hosts)
    pool_id = env.api.pool_id(lb["id"])
    m1 = env.api.members(lb["id"])[MEMBERS[0]]["id"]
    env.api.change(lb["id"], "PUT", f"{POOLS}/{pool_id}/members/{m1}",
                   {"member": {"admin_state_up": False}})
    assert set(ask(cl, lb["vip_address"], 53, 6)) == {"m2"}
    assert wait_for(lambda: env.api.members(lb["id"])[MEMBERS[0]]["operating_status"]
                    == "OFFLINE", 10)
    listener_id = env.api.listener_id(lb["id"])
    env.api.change(lb["id"], "PUT", f"{LISTENERS}/{listener_id}",
                   {"listener": {"admin_state_up": False}})
    assert ask(cl, lb["vip_address"], 53, 2, timeout=0.5) == ["error", "error"]


def test_ipv6_vip_and_members(env: Env, hosts: Lab) -> None:
    network_id = env.api.call("GET", f"{NET}/subnets/{env.subnet}")["subnet"]["network_id"]
    subnet = env.api.subnet(network_id, "fd00:202::/64", gateway_ip=None,
                            allocation_pools=[{"start": "fd00:202::100",
                                               "end": "fd00:202::199"}])
    for i, address in enumerate(V6_MEMBERS):
        echo(hosts, hosts.host(f"v{i + 1}", [f"{address}/64"]), f"v{i + 1}")
    lb = env.api.create_lb(udp_lb(subnet["id"], [{"address": a} for a in V6_MEMBERS],
                                  monitor={**UDP_MONITOR, "type": "UDP-CONNECT"}))
    cl = hosts.host("c6", [f"{V6_CLIENT}/64"])
    assert wait_for(lambda: ask(cl, lb["vip_address"], 53, 1)[0] != "error", 10)
    assert Counter(ask(cl, lb["vip_address"], 53, 10)) == {"v1": 5, "v2": 5}
    assert wait_for(lambda: {m["operating_status"] for m in env.api.members(lb["id"]).values()}
                    == {"ONLINE"}, 15), env.api.members(lb["id"])


def test_allowed_cidrs_and_connection_limit(env: Env, hosts: Lab) -> None:
    lb = env.api.create_lb(udp_lb(env.subnet, members(hosts, 1)))
    inside, outside = client(hosts, 0), client(hosts, 1)
    listener_id = env.api.listener_id(lb["id"])
    env.api.change(lb["id"], "PUT", f"{LISTENERS}/{listener_id}", {"listener": {
        "allowed_cidrs": [f"{CLIENTS[0]}/32"], "connection_limit": 2}})
    vip = lb["vip_address"]
    assert ask(outside, vip, 53, 2, timeout=0.5) == ["error", "error"]
    flows = [Session(hosts, inside, vip, 53, timeout=0.5) for _ in range(3)]
    assert [flows[0].ask(), flows[1].ask()] == ["m1", "m1"]
    assert flows[2].ask() == "error"  # a third flow while two are live
    assert [flows[0].ask(), flows[1].ask()] == ["m1", "m1"]  # the live ones carry on


FLOW_LINE = re.compile(
    r'(?P<ts>\S+) (?P<amphora>\S+) (?P<project>\S+) (?P<lb>\S+) (?P<listener>\S+) '
    r'(?P<ip>\S+) (?P<port>\d+) (?P<date>\S+) - - (?P<bytes>\d+) (?P<uploaded>\d+) - "" '
    r'(?P<pool>\S+) (?P<member>\S+) (?P<time>\d+) -')


def test_udp_flows_are_logged_when_they_end(env: Env, hosts: Lab) -> None:
    """Each flow of a UDP listener with connection_logging is one access log line, with
    Octavia's fields, when its conntrack entry ends (deleted here, instead of waiting for
    its 120 s); a listener with connection_logging false logs nothing."""
    ms = members(hosts)
    body = udp_lb(env.subnet, ms)
    quiet = {**body["listeners"][0], "name": "quiet", "protocol_port": 54,
             "connection_logging": False,
             "default_pool": {**body["listeners"][0]["default_pool"], "name": "quiet"}}
    body["listeners"].append(quiet)
    lb = env.api.create_lb(body)
    cl = client(hosts)
    assert sorted(ask(cl, lb["vip_address"], 53, 4)) == ["m1", "m1", "m2", "m2"]
    assert sorted(ask(cl, lb["vip_address"], 54, 2)) == ["m1", "m2"]
    (amphora,) = env.api.amphora_dirs(lb["id"])
    sh("ip", "netns", "exec", namespace_name(amphora.name), "conntrack", "-D", "-p", "udp",
       check=False)
    path = env.api.state_dir / "logs" / f"{lb['id']}.log"

    def lines() -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    assert wait_for(lambda: len(lines()) >= 4, 15), lines()
    tree = env.api.status(lb["id"])["listeners"]
    logged = next(li for li in tree if li["name"] == "udp")
    pool = logged["pools"][0]
    found = [FLOW_LINE.fullmatch(line) for line in lines()]
    assert all(found), lines()
    flows = [m for m in found if m is not None]
    assert {(m["amphora"], m["lb"], m["listener"], m["ip"], m["pool"]) for m in flows} == \
        {(amphora.name, lb["id"], logged["id"], CLIENTS[0], pool["id"])}
    # answers are the member's name (2 bytes), requests "ping" (4 bytes)
    assert {(m["bytes"], m["uploaded"]) for m in flows} == {("2", "4")}
    assert sorted(m["member"] for m in flows) == sorted(
        2 * [m["id"] for m in pool["members"]])
    assert len(lines()) == 4
    # a SIGKILLed agent leaves no `conntrack -E` behind in the namespace
    (follower,) = followers(namespace_name(amphora.name))
    agent = UdpAgentProcess(amphora, namespace_name(amphora.name))
    pid = agent.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: follower not in followers(namespace_name(amphora.name)), 10)


def followers(namespace: str) -> list[int]:
    """The `conntrack -E` processes in the namespace."""
    found = []
    for pid in sh("ip", "netns", "pids", namespace, check=False).split():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/usr/sbin/conntrack"):
                found.append(int(pid))
    return found
