"""ACTIVE_STANDBY with real keepalived (issue 8, part 2): an LB is two amphorae, each a
namespace with haproxy and keepalived; the VIP is held by one of them through VRRP. When the
active amphora's haproxy is killed, then its keepalived, then its whole namespace is deleted,
the VIP moves to the peer, the client keeps getting answers, the lost amphora is rebuilt as
the new standby, and afterwards exactly one namespace holds the VIP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.amphora.haproxy_process import HaproxyProcess
from nslb.amphora.keepalived_process import KeepalivedProcess
from nslb.netns.names import namespace_name
from tests.integration.api_env import (
    FAST_MONITOR,
    Served,
    http_lb,
    per_test,
    served,
    url,
)
from tests.integration.conftest import Lab, sh, wait_for

BACKENDS = ["10.250.19.21", "10.250.19.22"]
CLIENT = "10.250.19.50"


SUBNET = ("10.250.19.0/24", "10.250.19.100", "10.250.19.199")


@pytest.fixture(scope="module")
def env() -> Iterator[Served]:
    with served(*SUBNET, extra_args=("--topology", "ACTIVE_STANDBY")) as module:
        yield module


@pytest.fixture(scope="module")
def quick_env() -> Iterator[Served]:
    """A server that fails amphorae over after 4 s instead of 30."""
    with served(*SUBNET, extra_args=("--topology", "ACTIVE_STANDBY", "--failover-timeout",
                                     "4")) as module:
        yield module


@pytest.fixture
def quick_hosts(quick_env: Served) -> Iterator[Lab]:
    with per_test(quick_env.api, quick_env.lab) as lab:
        yield lab


def holders(dirs: list[Path], vip: str) -> list[Path]:
    """The amphorae whose namespace has the VIP on an interface."""
    out = []
    for directory in dirs:
        namespace = namespace_name(directory.name)
        if namespace not in sh("ip", "netns", "list"):
            continue
        addresses = sh("ip", "netns", "exec", namespace, "ip", "-o", "addr", "show",
                       check=False)
        if f" {vip}/" in addresses:
            out.append(directory)
    return out


def one_holder(dirs: list[Path], vip: str, timeout: float = 15) -> Path:
    assert wait_for(lambda: len(holders(dirs, vip)) == 1, timeout, 0.1), holders(dirs, vip)
    (holder,) = holders(dirs, vip)
    return holder


def _build(env: Served, hosts: Lab) -> tuple[dict[str, object], str, list[Path]]:
    for i, address in enumerate(BACKENDS, start=1):
        hosts.serve(hosts.host(f"be{i}", [f"{address}/24"]), f"be{i}")
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = env.api.create_lb(http_lb(env.subnet, [{"address": a} for a in BACKENDS],
                                   monitor=FAST_MONITOR))
    dirs = env.api.amphora_dirs(str(lb["id"]))
    assert len(dirs) == 2
    return lb, client, dirs


def _kill_haproxy(directory: Path) -> None:
    for pid in HaproxyProcess(directory, namespace_name(directory.name)).all_pids():
        os.kill(pid, signal.SIGKILL)


def _kill_keepalived(directory: Path) -> None:
    keepalived = KeepalivedProcess(directory, namespace_name(directory.name))
    for pidfile in (keepalived.pidfile, keepalived.vrrp_pidfile):
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)


@pytest.mark.parametrize("fault", ["haproxy", "keepalived", "namespace"])
def test_the_vip_moves_when_the_active_amphora_fails(env: Served, hosts: Lab, fault: str) -> None:
    lb, client, dirs = _build(env, hosts)
    vip = str(lb["vip_address"])
    active = one_holder(dirs, vip)
    assert set(hosts.names(client, url(vip), 4)) == {"be1", "be2"}
    started = time.monotonic()
    if fault == "haproxy":
        _kill_haproxy(active)
    elif fault == "keepalived":
        _kill_keepalived(active)
    else:
        sh("ip", "netns", "del", namespace_name(active.name))
    # the client gets answers again within seconds (a fresh connection per request)
    assert wait_for(lambda: hosts.names(client, url(vip), 1) != ["error"], 10, 0.05)
    outage = time.monotonic() - started
    assert outage < 5, outage

    standby = next(d for d in dirs if d != active)
    assert wait_for(lambda: holders(dirs, vip) == [standby], 20, 0.1), holders(dirs, vip)
    # the lost amphora comes back, as the standby (nopreempt keeps the VIP where it is)
    rebuilt = HaproxyProcess(active, namespace_name(active.name))
    assert wait_for(lambda: rebuilt.master_pid() is not None and KeepalivedProcess(
        active, namespace_name(active.name)).state() == "BACKUP", 30, 0.2)
    time.sleep(1.0)
    assert holders(dirs, vip) == [standby], "split brain: more than one VIP holder"
    assert set(hosts.names(client, url(vip), 6)) == {"be1", "be2"}


def test_lb_failover_under_load_replaces_both_amphorae(env: Served, hosts: Lab,
                                                       tmp_path: Path) -> None:
    lb, client, dirs = _build(env, hosts)
    vip = str(lb["vip_address"])
    one_holder(dirs, vip)
    stop = tmp_path / "stop"
    # a SYN the hand-over gate drops is retransmitted after 1 s: wait longer than that
    loop = hosts.start_loop(client, url(vip), stop, timeout=5)
    time.sleep(0.5)
    env.api.change(str(lb["id"]), "PUT", f"/v2/lbaas/loadbalancers/{lb['id']}/failover",
                   timeout=60)
    new = env.api.amphora_dirs(str(lb["id"]))
    assert len(new) == 2 and not set(new) & set(dirs)
    holder = one_holder(new, vip)
    assert holder in new
    time.sleep(0.5)
    stop.touch()
    result = json.loads(loop.communicate(timeout=30)[0])
    assert result["ok"] > 20
    # the VIP moved once, from the old holder straight to a new amphora, and the old
    # holder handed it over without breaking or refusing a connection
    assert result["errors"] == [], result["errors"][:5]
    assert all(not d.exists() for d in dirs)
    assert set(hosts.names(client, url(vip), 4)) == {"be1", "be2"}


def test_an_amphora_that_cannot_be_repaired_is_failed_over(quick_env: Served,
                                                            quick_hosts: Lab) -> None:
    env, hosts = quick_env, quick_hosts
    lb, client, dirs = _build(env, hosts)
    vip = str(lb["vip_address"])
    active = one_holder(dirs, vip)
    # haproxy dies and its repair keeps failing: the config cannot be written any more
    (active / "haproxy.cfg.new").mkdir()
    _kill_haproxy(active)
    assert wait_for(lambda: hosts.names(client, url(vip), 1) != ["error"], 10, 0.05)
    # after --failover-timeout (4 s) the amphora is replaced by a new one
    assert wait_for(lambda: not active.exists(), 40, 0.5), "no automatic failover"
    env.api.wait_active(str(lb["id"]), 30)
    now = env.api.amphora_dirs(str(lb["id"]))
    assert len(now) == 2 and active not in now
    one_holder(now, vip)
    assert set(hosts.names(client, url(vip), 4)) == {"be1", "be2"}
