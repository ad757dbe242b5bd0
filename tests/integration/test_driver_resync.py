"""A converged resync checks an amphora from the host, cheaply, and still repairs whatever
was broken behind nslb's back: a deleted veth, a flushed address, a lost route, a port
taken off its bridge or down, a stray address, a lost pid file."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from nslb.amphora.haproxy_process import HaproxyProcess
from nslb.amphora.namespace import port_plan
from nslb.model.bundle import Bundle
from nslb.model.resources import Amphora
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.netns import namespaces, ports, verify
from nslb.netns.inspect import Netlink
from nslb.netns.names import host_ifname, namespace_name, ns_ifname
from nslb.render.bundle import build_bundle
from tests.integration.conftest import Lab, TrackingDriver, sh, wait_for
from tests.snapshots import attachment, http_lb

VIP_URL = "http://10.250.1.10:80/"
GATEWAY = "10.250.1.1"
ROUTED = "10.250.77.0/24"


def _setup(lab: Lab) -> tuple[str, LoadBalancerSnapshot]:
    lab.serve(lab.host("be1", ["10.250.1.21/24"]), "be1")
    client = lab.host("cl", ["10.250.1.50/24"])
    snap = http_lb([("10.250.1.21", {})])
    vip = attachment("10.250.1.10", "10.250.1.0/24", gateway=GATEWAY)
    vip = dataclasses.replace(vip, subnet=dataclasses.replace(
        vip.subnet, host_routes=[{"destination": ROUTED, "nexthop": "10.250.1.2"}]))
    lb = dataclasses.replace(snap.lb, vip_port_id=vip.port.id, vip_subnet_id=vip.subnet.id)
    return client, dataclasses.replace(snap, lb=lb, vip=vip)


def _differences(driver: TrackingDriver, snap: LoadBalancerSnapshot) -> list[str]:
    plans = [port_plan(p, driver.physnets[p.physical_network])
             for p in _bundle(driver, snap).ports]
    proc = HaproxyProcess(Path(driver.state_dir, "amp", snap.lb.id), namespace_name(snap.lb.id))
    with Netlink() as nl:
        return verify.differences(nl, namespace_name(snap.lb.id), plans, proc.master_pid())


def _bundle(driver: TrackingDriver, snap: LoadBalancerSnapshot) -> Bundle:
    return build_bundle(snap, Amphora(id=snap.lb.id, loadbalancer_id=snap.lb.id),
                        driver.facts())


def test_a_converged_resync_never_enters_the_namespace(
        lab: Lab, driver: TrackingDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    _setup_client, snap = _setup(lab)
    first = driver.apply(snap)
    assert _differences(driver, snap) == []

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a converged resync entered the namespace")

    monkeypatch.setattr(namespaces, "socket_in", refuse)
    monkeypatch.setattr(ports, "plug", refuse)
    assert driver.apply(snap) == first


def _delete_host_end(snap: LoadBalancerSnapshot) -> None:
    sh("ip", "link", "del", host_ifname(snap.vip.port.id))


def _flush_addresses(snap: LoadBalancerSnapshot) -> None:
    sh("ip", "-n", namespace_name(snap.lb.id), "addr", "flush", "dev", ns_ifname(snap.vip.port.id))


def _delete_route(snap: LoadBalancerSnapshot) -> None:
    sh("ip", "-n", namespace_name(snap.lb.id), "route", "del", ROUTED)


def _off_the_bridge(snap: LoadBalancerSnapshot) -> None:
    sh("ip", "link", "set", host_ifname(snap.vip.port.id), "nomaster")


def _down_inside(snap: LoadBalancerSnapshot) -> None:
    sh("ip", "-n", namespace_name(snap.lb.id), "link", "set", ns_ifname(snap.vip.port.id), "down")


def _stray_address(snap: LoadBalancerSnapshot) -> None:
    sh("ip", "-n", namespace_name(snap.lb.id), "addr", "add", "10.250.1.99/24", "dev",
       ns_ifname(snap.vip.port.id))


FAULTS: dict[str, Callable[[LoadBalancerSnapshot], None]] = {
    "deleted veth": _delete_host_end, "flushed addresses": _flush_addresses,
    "deleted route": _delete_route, "off the bridge": _off_the_bridge,
    "down inside": _down_inside, "stray address": _stray_address}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_resync_repairs_broken_plumbing(lab: Lab, driver: TrackingDriver,
                                          fault: str) -> None:
    client, snap = _setup(lab)
    driver.apply(snap)
    assert lab.names(client, VIP_URL, 1) == ["be1"]
    FAULTS[fault](snap)
    assert _differences(driver, snap), f"{fault} went unnoticed"
    driver.apply(snap)
    assert _differences(driver, snap) == []
    assert lab.names(client, VIP_URL, 2) == ["be1", "be1"]


def test_a_lost_pid_file_still_finds_every_haproxy_process(lab: Lab,
                                                           driver: TrackingDriver) -> None:
    client, snap = _setup(lab)
    driver.apply(snap)
    proc = HaproxyProcess(Path(driver.state_dir, "amp", snap.lb.id), namespace_name(snap.lb.id))
    pids = proc.all_pids()
    assert len(pids) >= 2 and pids[0] == proc.master_pid()  # the master and its worker
    proc.pidfile.unlink()
    assert proc.all_pids() == pids  # through the master CLI
    proc.stop()
    assert wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 5)
    driver.apply(snap)  # a new master, and a pid file again
    assert lab.names(client, VIP_URL, 1) == ["be1"]


def test_a_killed_worker_is_noticed_and_haproxy_restarted(lab: Lab, driver: TrackingDriver) -> None:
    client, snap = _setup(lab)
    driver.apply(snap)
    proc = HaproxyProcess(Path(driver.state_dir, "amp", snap.lb.id), namespace_name(snap.lb.id))
    master = proc.master_pid()
    assert master is not None and proc.has_workers(master)
    sh("kill", f"-{signal.SIGSTOP.value}", str(master))  # the master cannot respawn...
    try:
        for pid in proc.all_pids()[1:]:
            sh("kill", "-9", str(pid))  # ...while its worker is killed
        assert wait_for(lambda: not proc.has_workers(master), 5)
    finally:
        sh("kill", f"-{signal.SIGCONT.value}", str(master))
    driver.apply(snap)
    assert lab.names(client, VIP_URL, 1) == ["be1"]
