"""ACTIVE_STANDBY covers UDP (issue 12): both amphorae of a pair hold the same nftables
rules, so when the VIP moves the new holder forwards UDP at once (datagrams sent without
pause are lost only while the VIP moves); keepalived's check also
fails when the UDP agent (or its table) is gone, which moves the VIP; a deleted table is
loaded again by the agent, and a dead agent is replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nslb.amphora.keepalived_process import KeepalivedProcess
from nslb.amphora.scripts import install
from nslb.amphora.udp_process import UdpAgentProcess
from nslb.netns.names import namespace_name
from nslb.render.keepalived import udp_check_script_path
from tests.integration.api_env import Api, flat_subnet
from tests.integration.conftest import HERE, Lab, sh, wait_for
from tests.integration.test_active_standby import holders, one_holder
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

GOLDEN = Path(__file__).parent.parent / "golden" / "udp"
MEMBERS = ["10.202.2.21", "10.202.2.22"]
CLIENT = "10.202.2.50"


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with udp_serving(extra_args=("--topology", "ACTIVE_STANDBY")) as (api, lab):
        yield Env(api, lab, flat_subnet(api, PHYSNET, "10.202.2.0/24", "10.202.2.100",
                                        "10.202.2.199"))


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    with udp_hosts(env.api, env.lab) as lab:
        yield lab


def build(env: Env, hosts: Lab) -> tuple[str, str, list[Path]]:
    for i, address in enumerate(MEMBERS, start=1):
        echo(hosts, hosts.host(f"m{i}", [f"{address}/24"]), f"m{i}")
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = env.api.create_lb(udp_lb(env.subnet, [{"address": a} for a in MEMBERS],
                                  monitor=UDP_MONITOR))
    dirs = env.api.amphora_dirs(str(lb["id"]))
    assert len(dirs) == 2
    for directory in dirs:  # the standby holds the same rules as the active amphora
        rules = sh("ip", "netns", "exec", namespace_name(directory.name), "nft", "list",
                   "table", "inet", "nslb_udp")
        assert f"dnat ip to {MEMBERS[0]}:5353" in rules and "udp dport 53" in rules
    return str(lb["vip_address"]), client, dirs


def test_takeover_keeps_udp_flowing(env: Env, hosts: Lab) -> None:
    vip, client, dirs = build(env, hosts)
    active = one_holder(dirs, vip)
    assert set(ask(client, vip, 53, 6)) == {"m1", "m2"}
    flow = Session(hosts, client, vip, 53, timeout=0.3)
    assert flow.ask() in ("m1", "m2")
    keepalived = KeepalivedProcess(active, namespace_name(active.name))
    for pidfile in (keepalived.pidfile, keepalived.vrrp_pidfile):
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    standby = next(d for d in dirs if d != active)
    assert wait_for(lambda: standby in holders(dirs, vip), 10, 0.05)
    # the flow carries on through the new holder (a new conntrack entry there)
    assert wait_for(lambda: flow.ask() in ("m1", "m2"), 10, 0.05)
    assert set(ask(client, vip, 53, 6)) == {"m1", "m2"}
    assert wait_for(lambda: holders(dirs, vip) == [standby], 20, 0.1), holders(dirs, vip)


class Stream:
    """Datagrams from the client to VIP:53 without pause, each from a new socket (a new
    flow), with the CLOCK_MONOTONIC time each was sent (the test's clock too)."""

    def __init__(self, hosts: Lab, client: str, vip: str, stop: Path) -> None:
        self.stop = stop
        self.proc = hosts.track(subprocess.Popen(
            ["ip", "netns", "exec", client, sys.executable, str(HERE / "udp_probe.py"),
             "stream", vip, "53", str(stop)], stdout=subprocess.PIPE, text=True))

    def finish(self) -> list[tuple[float, str]]:
        self.stop.touch()
        out, _ = self.proc.communicate(timeout=60)
        return [(float(t), str(answer)) for t, answer in json.loads(out)]


def test_udp_datagrams_are_lost_only_while_the_vip_moves(env: Env, hosts: Lab,
                                                         tmp_path: Path) -> None:
    """The active amphora's namespace is deleted under a stream of datagrams (its
    processes forward from the orphaned namespace until the health loop evicts them and
    the VIP moves; an agent left there used to leave the rebuilt amphora without rules,
    in FAULT): nothing is lost before; the lost ones are one run that ends when the
    standby, holding the same rules, answers, before the lost amphora is rebuilt; nothing
    is lost after, through the rebuild of the lost amphora as the new standby."""
    vip, client, dirs = build(env, hosts)
    active = one_holder(dirs, vip)
    standby = next(d for d in dirs if d != active)
    stream = Stream(hosts, client, vip, tmp_path / "stop")
    time.sleep(1.5)  # traffic before the fault
    fault = time.monotonic()
    sh("ip", "netns", "del", namespace_name(active.name))
    assert wait_for(lambda: standby in holders(dirs, vip), 10, 0.05)
    rebuilt = KeepalivedProcess(active, namespace_name(active.name))
    assert wait_for(lambda: rebuilt.state() == "BACKUP", 30, 0.2), rebuilt.state()
    back = time.monotonic()
    time.sleep(1.0)  # traffic after the rebuild
    sent = stream.finish()
    answered = {"m1", "m2"}
    before = [answer for t, answer in sent if t < fault]
    assert before and set(before) <= answered, before
    resumed = min(t for t, answer in sent if t > fault and answer in answered)
    lost = [t for t, answer in sent if answer not in answered]
    assert all(fault <= t < resumed for t in lost), (len(lost), len(sent))
    assert resumed < back  # the standby forwarded before the lost amphora was back
    assert {answer for t, answer in sent if t > resumed} == answered
    # after the rebuild only the standby holds the VIP, and it still forwards
    assert {answer for t, answer in sent if t > back} == answered
    assert holders(dirs, vip) == [standby]


def test_a_dead_udp_agent_is_restarted_and_udp_keeps_flowing(env: Env, hosts: Lab) -> None:
    """Whichever comes first: keepalived's check moves the VIP to the peer, or the health
    loop has the amphora repaired in place; either way one amphora holds the VIP, UDP
    flows, and a new agent serves the same view."""
    vip, client, dirs = build(env, hosts)
    active = one_holder(dirs, vip)
    agent = UdpAgentProcess(active, namespace_name(active.name))
    pid = agent.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: agent.pid() not in (None, pid), 20, 0.1)
    one_holder(dirs, vip)
    assert wait_for(lambda: set(ask(client, vip, 53, 6)) == {"m1", "m2"}, 15, 0.2)


def test_the_keepalived_udp_check(hosts: Lab, tmp_path: Path) -> None:
    """The check keepalived runs as root in the amphora's namespace: it fails while the
    table is missing and while the agent (its pid file) is gone."""
    install(tmp_path)
    ns = hosts.host("chk", [])
    pidfile = tmp_path / "udp-agent.pid"
    sleeper = hosts.track(subprocess.Popen(["sleep", "60"], text=True))
    pidfile.write_text(f"{sleeper.pid}\n")

    def passes() -> bool:
        return subprocess.run(["ip", "netns", "exec", ns, str(udp_check_script_path(tmp_path)),
                               str(pidfile)], check=False, timeout=30).returncode == 0

    assert not passes()  # no table
    sh("ip", "netns", "exec", ns, "nft", "-f", str(GOLDEN / "no_pool.nft"))
    assert passes()
    hosts.stop(sleeper)
    assert not passes()  # no agent


def test_a_deleted_table_is_loaded_again(env: Env, hosts: Lab) -> None:
    vip, client, dirs = build(env, hosts)
    active = one_holder(dirs, vip)
    namespace = namespace_name(active.name)
    sh("ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", "nslb_udp")
    assert wait_for(lambda: "udp dport 53" in sh(
        "ip", "netns", "exec", namespace, "nft", "list", "ruleset"), 10, 0.1)
    assert wait_for(lambda: set(ask(client, vip, 53, 6)) == {"m1", "m2"}, 15, 0.2)
