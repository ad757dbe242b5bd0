"""A VXLAN network spanning two "hosts": real HTTP through the overlay.

Two host namespaces on an underlay bridge (10.241.0.0/24, MTU 1460 as on GCP). On host A
the namespace driver (run inside host A's network namespace, as `nslb agent run` runs it)
applies the bundle of an amphora whose VIP is on VXLAN network VNI 4242, flooding to host
B; on host B, nslb's segment plumbing (netns.vxlan) builds the same network, flooding to
A, and a backend and a client namespace are plugged into it. The client on B reaches the
VIP on A and the backend on B answers: every packet crosses the vxlan devices twice.
The amphora's interface has the network's mtu, the underlay's minus 50 (1410).

This uses the namespace driver per host, not the agents (tests/integration/
test_agents_remote.py covers the agent path); the traffic really crosses the vxlan.
Everything is removed even on failure (conftest's leak check).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.amphora.namespace import fd_limit
from nslb.model.bundle import HostFacts
from nslb.model.resources import Amphora, Network
from nslb.model.vxlan import overlay_mtu
from nslb.netns.vxlan import bridge_name, device_name
from nslb.render.bundle import build_bundle
from tests.integration.conftest import CREATED_LBS, CREATED_PORTS, PREFIX, STATE_DIRS, Lab, sh
from tests.snapshots import http_lb

ROOT = Path(__file__).parents[2]
UNDERLAY_MTU = 1460
HOST_A, HOST_B = "10.241.0.1", "10.241.0.2"
VNI = 4242
CIDR = "10.240.0.0/24"
VIP, BACKEND, CLIENT = "10.240.0.10", "10.240.0.21", "10.240.0.50"

APPLY = """
import sys
from pathlib import Path
from nslb.amphora.namespace import NamespaceDriver
from nslb.model.bundle import Bundle
driver = NamespaceDriver(Path(sys.argv[1]), {}, underlay_address=sys.argv[2])
print(driver.apply(Bundle.from_json(sys.stdin.read())))
"""
DELETE = """
import sys
from pathlib import Path
from nslb.amphora.namespace import NamespaceDriver
driver = NamespaceDriver(Path(sys.argv[1]), {}, underlay_address=sys.argv[2])
for amphora_id in sorted(driver.existing()):
    driver.delete(amphora_id)
"""
SEGMENT = """
import sys
from pathlib import Path
from pyroute2 import IPRoute
from nslb.netns.bridges import BRIDGE_LOCK, BridgeRegistry
from nslb.netns.vxlan import ensure_segment, segment_plan
plan = segment_plan(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5:])
with BRIDGE_LOCK, IPRoute() as ipr:
    ensure_segment(ipr, plan, BridgeRegistry(Path(sys.argv[1]) / "bridges.json"))
"""


class Hosts:
    """The underlay, two host namespaces, and the processes run inside them."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        sh("ip", "link", "set", lab.bridge, "mtu", str(UNDERLAY_MTU))
        self.a = lab.host("ha", [f"{HOST_A}/24"])
        self.b = lab.host("hb", [f"{HOST_B}/24"])
        for ns, veth in ((self.a, f"{lab.tag}ha"), (self.b, f"{lab.tag}hb")):
            sh("ip", "link", "set", veth, "mtu", str(UNDERLAY_MTU))
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "mtu",
               str(UNDERLAY_MTU))
        self.dir_a = tempfile.mkdtemp(prefix=f"{PREFIX}vxa", dir="/tmp")
        self.dir_b = tempfile.mkdtemp(prefix=f"{PREFIX}vxb", dir="/tmp")
        STATE_DIRS.extend([self.dir_a, self.dir_b])

    def python(self, host_ns: str, script: str, *args: str, stdin: str = "") -> str:
        """Run `script` in the host's network namespace only (nsenter, not `ip netns
        exec`, whose private mount namespace would hide the amphora namespaces)."""
        done = subprocess.run(["nsenter", f"--net=/run/netns/{host_ns}", sys.executable,
                               "-c", script, *args], input=stdin, capture_output=True,
                              text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def in_host(self, host_ns: str, *args: str) -> str:
        return sh("ip", "netns", "exec", host_ns, *args)

    def plug_on_b(self, name: str, address: str, mtu: int) -> str:
        """A namespace on host B's segment of the VXLAN network (a backend, a client)."""
        ns = f"{self.lab.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.lab.namespaces.append(ns)
        veth = f"{self.lab.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", self.b)
        self.in_host(self.b, "ip", "link", "set", veth, "master", bridge_name(VNI), "mtu",
                     str(mtu), "up")
        for args in (("lo", "up"), ("eth0", "mtu", str(mtu), "up")):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", *args)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", address, "dev", "eth0", "nodad")
        return ns

    def cleanup(self) -> None:
        try:
            self.python(self.a, DELETE, self.dir_a, HOST_A)
        finally:
            for path in (self.dir_a, self.dir_b):
                shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    lab = Lab(tag=f"{PREFIX}vx")
    made: Hosts | None = None
    try:
        made = Hosts(lab)
        yield made
    finally:
        try:
            if made is not None:
                made.cleanup()
        finally:
            lab.cleanup()


def vxlan_counters(hosts: Hosts, host_ns: str) -> tuple[int, int]:
    """(rx, tx) packets of the host's vxlan device of VNI."""
    link = json.loads(hosts.in_host(host_ns, "ip", "-j", "-s", "link", "show",
                                    device_name(VNI)))[0]
    return int(link["stats64"]["rx"]["packets"]), int(link["stats64"]["tx"]["packets"])


def test_http_through_an_amphora_on_host_a_to_a_backend_on_host_b(hosts: Hosts) -> None:
    mtu = overlay_mtu(UNDERLAY_MTU)
    network = Network(network_type="vxlan", physical_network="", segmentation_id=VNI,
                      mtu=mtu)
    snap = http_lb([(BACKEND, {})], vip=VIP, cidr=CIDR, network=network)
    snap = dataclasses.replace(snap, vxlan_hosts={network.id: {"host-a": HOST_A,
                                                               "host-b": HOST_B}})
    amphora = Amphora(id=snap.lb.id, loadbalancer_id=snap.lb.id, compute_id="host-a")
    facts = HostFacts(host="host-a", state_dir=hosts.dir_a, fd_limit=fd_limit())
    bundle = build_bundle(snap, amphora, facts)
    assert bundle.ports[0].flood == (HOST_B,)
    CREATED_LBS.add(amphora.id)
    CREATED_PORTS.update(p.port_id for p in bundle.ports)

    hosts.python(hosts.a, APPLY, hosts.dir_a, HOST_A, stdin=bundle.to_json())
    hosts.python(hosts.b, SEGMENT, hosts.dir_b, str(VNI), HOST_B, str(mtu), HOST_A)
    backend = hosts.plug_on_b("be", f"{BACKEND}/24", mtu)
    client = hosts.plug_on_b("cl", f"{CLIENT}/24", mtu)
    hosts.lab.serve(backend, "vx-backend")

    # host A's segment: the vxlan device on its own bridge, head-end replication to B
    details = hosts.in_host(hosts.a, "ip", "-d", "link", "show", device_name(VNI))
    assert f"vxlan id {VNI} local {HOST_A}" in details and "dstport 4789" in details
    assert f"master {bridge_name(VNI)}" in details
    fdb = hosts.in_host(hosts.a, "bridge", "fdb", "show", "dev", device_name(VNI))
    assert f"00:00:00:00:00:00 dst {HOST_B} self permanent" in fdb
    before = vxlan_counters(hosts, hosts.a)

    assert hosts.lab.names(client, f"http://{VIP}/", 4) == ["vx-backend"] * 4

    rx, tx = vxlan_counters(hosts, hosts.a)
    assert rx > before[0] and tx > before[1]  # the requests and answers crossed the overlay
    inside = json.loads(sh("ip", "netns", "exec", f"nslb-{amphora.id}", "ip", "-j", "link"))
    assert {link["mtu"] for link in inside if link["ifname"] != "lo"} == {mtu} == {1410}
    # a full-size packet with DF set fits the overlay on this underlay; one more byte not
    sh("ip", "netns", "exec", client, "ping", "-c1", "-W2", "-M", "do", "-s",
       str(mtu - 28), VIP)
    too_big = subprocess.run(["ip", "netns", "exec", client, "ping", "-c1", "-W2", "-M",
                              "do", "-s", str(mtu - 27), VIP], capture_output=True)
    assert too_big.returncode != 0


def test_the_segment_is_repaired_and_goes_with_the_last_amphora(hosts: Hosts) -> None:
    network = Network(network_type="vxlan", physical_network="", segmentation_id=VNI,
                      mtu=overlay_mtu(UNDERLAY_MTU))
    snap = http_lb([(BACKEND, {})], vip=VIP, cidr=CIDR, network=network)
    snap = dataclasses.replace(snap, vxlan_hosts={network.id: {"host-b": HOST_B}})
    amphora = Amphora(id=snap.lb.id, loadbalancer_id=snap.lb.id, compute_id="host-a")
    facts = HostFacts(host="host-a", state_dir=hosts.dir_a, fd_limit=fd_limit())
    bundle = build_bundle(snap, amphora, facts)
    CREATED_LBS.add(amphora.id)
    CREATED_PORTS.update(p.port_id for p in bundle.ports)
    hosts.python(hosts.a, APPLY, hosts.dir_a, HOST_A, stdin=bundle.to_json())
    # applying again is a no-op on the segment (one flood entry, same device)
    hosts.python(hosts.a, APPLY, hosts.dir_a, HOST_A, stdin=bundle.to_json())
    fdb = hosts.in_host(hosts.a, "bridge", "fdb", "show", "dev", device_name(VNI))
    assert fdb.count("00:00:00:00:00:00") == 1
    # a vxlan device someone deleted is found by the converged check and rebuilt
    hosts.in_host(hosts.a, "ip", "link", "del", device_name(VNI))
    hosts.python(hosts.a, APPLY, hosts.dir_a, HOST_A, stdin=bundle.to_json())
    details = hosts.in_host(hosts.a, "ip", "-d", "link", "show", device_name(VNI))
    assert f"master {bridge_name(VNI)}" in details and "mtu 1410" in details
    fdb = hosts.in_host(hosts.a, "bridge", "fdb", "show", "dev", device_name(VNI))
    assert f"00:00:00:00:00:00 dst {HOST_B} self permanent" in fdb

    hosts.python(hosts.a, DELETE, hosts.dir_a, HOST_A)

    links = hosts.in_host(hosts.a, "ip", "-o", "link")
    assert device_name(VNI) not in links and bridge_name(VNI) not in links
