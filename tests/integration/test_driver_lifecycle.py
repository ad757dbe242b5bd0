"""Reloads, failures, supervision and deletion of a NamespaceDriver LB."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nslb.amphora.base import ApplyError, Superseded
from nslb.model.resources import Amphora
from nslb.netns.names import host_ifname, namespace_name
from nslb.render.bundle import build_bundle
from tests.integration.conftest import Lab, TrackingDriver, sh, wait_for
from tests.snapshots import http_lb, with_listener, with_member

VIP_URL = "http://10.250.1.10:80/"


def _setup(lab: Lab) -> str:
    for i in (1, 2):
        lab.serve(lab.host(f"be{i}", [f"10.250.1.2{i}/24"]), f"be{i}")
    return lab.host("cl", ["10.250.1.50/24"])


def test_reloads_under_load_lose_no_request(lab: Lab, driver: TrackingDriver,
                                            tmp_path: Path) -> None:
    client = _setup(lab)
    snap = http_lb([("10.250.1.21", {}), ("10.250.1.22", {})])
    driver.apply(snap)
    stop = tmp_path / "stop"
    loop = lab.start_loop(client, VIP_URL, stop)
    time.sleep(0.3)
    timings = []
    for i in range(5):  # each apply changes a timeout, so each is a real reload
        started = time.monotonic()
        snap = with_listener(snap, timeout_client_data=40000 + i)
        driver.apply(snap)
        timings.append(time.monotonic() - started)
        time.sleep(0.2)
    stop.touch()
    out, _ = loop.communicate(timeout=30)
    result = json.loads(out)
    assert result["errors"] == [], result["errors"][:5]
    assert result["ok"] > 20
    assert max(timings) < 2.0, timings


def test_invalid_config_raises_and_keeps_serving(lab: Lab, driver: TrackingDriver) -> None:
    client = _setup(lab)
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)
    config = Path(driver.state_dir, "amp", snap.lb.id, "haproxy.cfg")
    serving = config.read_text()
    # A value outside its grammar never reaches the file (the render-time guard).
    with pytest.raises(ApplyError, match="allowed_cidrs"):
        driver.apply(with_listener(snap, allowed_cidrs=["10.250.1.0/99"]))
    assert config.read_text() == serving
    # A config haproxy itself refuses (here: a bind to an address the namespace does not
    # hold) is rolled back to the last known good one.
    moved = dataclasses.replace(snap, lb=dataclasses.replace(snap.lb, vip_address="10.250.1.99"),
                                generation=snap.generation + 1)
    with pytest.raises(ApplyError, match="haproxy"):
        driver.apply(moved)
    assert lab.names(client, VIP_URL, 2) == ["be1", "be1"]
    assert config.read_text() == serving


def test_an_older_generation_is_refused_and_the_newer_kept(lab: Lab,
                                                           driver: TrackingDriver) -> None:
    """A controller that stalled past its lease hands over a bundle it rendered before
    the new holder applied a newer generation: the amphora keeps serving the newer one."""
    client = _setup(lab)
    old = http_lb([("10.250.1.21", {}), ("10.250.1.22", {})])
    new = with_member(old, 1, admin_state_up=False)  # the next generation: be1 only
    driver.apply(new)
    assert lab.names(client, VIP_URL, 4) == ["be1"] * 4
    config = Path(driver.state_dir, "amp", old.lb.id, "haproxy.cfg")
    serving = config.read_text()
    with pytest.raises(Superseded, match=f"serves generation {new.generation}") as caught:
        driver.apply(old)
    assert caught.value.serving == new.generation
    assert config.read_text() == serving
    assert lab.names(client, VIP_URL, 4) == ["be1"] * 4
    driver.apply(new)  # the same generation again is taken (it changes nothing)


def test_delete_leaves_nothing(lab: Lab, driver: TrackingDriver) -> None:
    _setup(lab)
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)
    lb_dir = Path(driver.state_dir, "amp", snap.lb.id)
    driver.delete(snap.lb.id)
    driver.delete(snap.lb.id)  # idempotent
    assert namespace_name(snap.lb.id) not in sh("ip", "netns", "list")
    assert host_ifname(snap.vip.port.id) not in sh("ip", "-o", "link")
    assert str(lb_dir) not in sh("ps", "-eo", "args")
    assert not lb_dir.exists()
    assert snap.lb.id not in driver.existing()
    assert lab.bridge in sh("ip", "-o", "link")  # not ours: never deleted


def test_reapply_after_namespace_deleted_rebuilds(lab: Lab, driver: TrackingDriver) -> None:
    client = _setup(lab)
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)
    sh("ip", "netns", "del", namespace_name(snap.lb.id))
    driver.apply(snap)
    assert lab.names(client, VIP_URL, 2) == ["be1", "be1"]


def test_reapply_after_haproxy_killed_restarts_it(lab: Lab, driver: TrackingDriver) -> None:
    client = _setup(lab)
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)
    pid = int(Path(driver.state_dir, "amp", snap.lb.id, "haproxy.pid").read_text())
    os.kill(pid, 9)
    assert wait_for(lambda: not driver.observe(snap.lb.id).running, 5)
    driver.apply(snap)
    assert lab.names(client, VIP_URL, 2) == ["be1", "be1"]


def test_haproxy_survives_the_death_of_nslb(lab: Lab, driver: TrackingDriver) -> None:
    """An nslb process that applied an LB is killed -9; traffic continues, a new driver adopts."""
    client = _setup(lab)
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)  # registers the LB for cleanup; the child below re-applies it
    bundle = build_bundle(snap, Amphora(id=snap.lb.id, loadbalancer_id=snap.lb.id),
                          driver.facts())
    code = ("import sys; from pathlib import Path;"
            "from nslb.amphora.namespace import NamespaceDriver;"
            "from nslb.model.bundle import Bundle;"
            "d=NamespaceDriver(Path(sys.argv[1]), {'physnet1': sys.argv[2]});"
            "d.apply(Bundle.from_json(sys.stdin.read()));"
            "import os; os.kill(os.getpid(), 9)")
    driver.delete(snap.lb.id)
    child = subprocess.run([sys.executable, "-c", code, str(driver.state_dir), lab.bridge],
                           input=bundle.to_json(), text=True, timeout=60, check=False)
    assert child.returncode == -9
    assert lab.names(client, VIP_URL, 2) == ["be1", "be1"]
    before = driver.observe(snap.lb.id).process_start
    assert driver.apply(snap) == bundle.hash  # adoption: confirmed, nothing restarted
    assert driver.observe(snap.lb.id).process_start == before


def test_a_new_vip_is_announced(lab: Lab, driver: TrackingDriver) -> None:
    """A client holding a stale neighbour entry for the VIP (the MAC of an amphora that
    went) learns the new amphora's MAC from its gratuitous ARP, sent once haproxy
    listens, without having to ask."""
    client = _setup(lab)
    vip = VIP_URL.split("/")[2].split(":")[0]
    sh("ip", "netns", "exec", client, "ip", "neigh", "replace", vip, "lladdr",
       "02:00:00:00:00:01", "dev", "eth0", "nud", "stale")
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)
    links = json.loads(sh("ip", "-n", namespace_name(snap.lb.id), "-j", "link", "show"))
    macs = {link["address"] for link in links if link["ifname"] != "lo"}

    def learned() -> bool:
        neigh = json.loads(sh("ip", "netns", "exec", client, "ip", "-j", "neigh", "show", vip))
        return bool(neigh) and neigh[0].get("lladdr") in macs

    assert wait_for(learned, 5, 0.05), sh("ip", "netns", "exec", client, "ip", "neigh")
