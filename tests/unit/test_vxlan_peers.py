"""A pair's peers on a VXLAN network, as pure data and as netlink calls: the MAC check,
the peers a pair member's bundle names (address, MAC, the peer host's underlay), their
checks when read back from the wire, the segment plan's static fdb entries, and the
convergence of static fdb and PERMANENT neighbour entries being idempotent (a recording
fake of pyroute2's IPRoute; tests/integration/test_vxlan_pairs.py checks the entries this
code writes in a real kernel)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from nslb.model.bundle import Bundle, HostFacts, NetworkPort, Peer
from nslb.model.resources import Network
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.vxlan import BadSegment, check_mac
from nslb.netns.ports import converge_neighbours
from nslb.netns.vxlan import NUD_PERMANENT, converge_static, segment_plan
from nslb.render.bundle import build_bundle
from tests import snapshots
from tests.unit import render_cases as cases

FACTS = HostFacts(host="h", state_dir="/var/lib/nslb", fd_limit=4096)
MASTER_MAC, BACKUP_MAC = "fa:16:3e:00:00:11", "fa:16:3e:00:00:12"


@pytest.mark.parametrize(("text", "expected"), [
    ("fa:16:3e:00:00:01", "fa:16:3e:00:00:01"), ("FA:16:3E:0A:0B:0C", "fa:16:3e:0a:0b:0c"),
    ("02:00:00:00:00:01", "02:00:00:00:00:01")])
def test_unicast_macs_pass_in_lower_case(text: str, expected: str) -> None:
    assert check_mac(text) == expected


@pytest.mark.parametrize("text", [
    "00:00:00:00:00:00", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "fa:16:3e:00:00",
    "fa-16-3e-00-00-01", "fa:16:3e:00:00:01\n", "fa:16:3e:00:00:01 dev lo", "", 7, None,
    "fa:16:3e:00:00:1", "fa:16:3e:00:00:0g"])
def test_anything_else_is_refused(text: object) -> None:
    with pytest.raises(BadSegment):
        check_mac(text)


def _pair_on_vxlan(hosts: dict[str, str], placed: tuple[str | None, str | None]
                   ) -> LoadBalancerSnapshot:
    """An ACTIVE_STANDBY snapshot on VXLAN network `net`: each amphora's VRRP port, the
    amphorae on `placed` hosts, `hosts` the network's hosts."""
    net = Network(id="net", network_type="vxlan", physical_network="", segmentation_id=4242,
                  mtu=1450)
    snap = cases.active_standby()
    vip = dataclasses.replace(snap.vip, network=net)
    master, backup = cases.pair()
    ports = {}
    for amp, mac in ((master, MASTER_MAC), (backup, BACKUP_MAC)):
        att = snapshots.attachment(amp.vrrp_ip or "", "10.250.0.0/24", net,
                                   subnet_id=cases.SUBNET_ID, port_id=amp.vrrp_port_id)
        ports[amp.id] = (dataclasses.replace(att, port=dataclasses.replace(
            att.port, mac_address=mac)),)
    amphorae = (dataclasses.replace(master, compute_id=placed[0]),
                dataclasses.replace(backup, compute_id=placed[1]))
    return dataclasses.replace(snap, vip=vip, amphorae=amphorae, amphora_ports=ports,
                               vxlan_hosts={"net": hosts})


def test_a_pair_member_on_vxlan_names_its_peer_and_the_peer_host() -> None:
    snap = _pair_on_vxlan({"host-a": "10.246.0.1", "host-b": "10.246.0.2"},
                          ("host-a", "host-b"))
    master, backup = snap.amphorae
    (mine,) = build_bundle(snap, master, FACTS).ports
    assert mine.flood == ("10.246.0.2",)
    assert mine.peers == (Peer("10.250.0.12", BACKUP_MAC, "10.246.0.2"),)
    (theirs,) = build_bundle(snap, backup, FACTS).ports
    assert theirs.peers == (Peer("10.250.0.11", MASTER_MAC, "10.246.0.1"),)


def test_an_unplaced_peer_gets_a_neighbour_entry_but_no_fdb_destination() -> None:
    snap = _pair_on_vxlan({"host-a": "10.246.0.1"}, ("host-a", None))
    (port,) = build_bundle(snap, snap.amphorae[0], FACTS).ports
    assert port.peers == (Peer("10.250.0.12", BACKUP_MAC, ""),)
    assert port.flood == ()


def test_peers_survive_the_wire_and_bad_ones_are_refused() -> None:
    snap = _pair_on_vxlan({"host-a": "10.246.0.1", "host-b": "10.246.0.2"},
                          ("host-a", "host-b"))
    bundle = build_bundle(snap, snap.amphorae[0], FACTS)
    again = Bundle.from_json(bundle.to_json())
    assert again == bundle and again.hash == bundle.hash
    data = json.loads(bundle.to_json())
    port = data["ports"][0]
    good = port["peers"][0]
    for bad in ({"mac": "ff:ff:ff:ff:ff:ff"}, {"mac": "FA:16:3E:00:00:12"},
                {"mac": "fa:16:3e:00:00:12 dev eth0"}, {"address": "10.250.0.012"},
                {"address": "fe80::1%eth0"}, {"underlay": "239.0.0.1"},
                {"underlay": "10.246.0.2; reboot"}, {"extra": 1}):
        tampered = {**data, "ports": [{**port, "peers": [{**good, **bad}]}]}
        with pytest.raises((ValueError, TypeError)):
            Bundle.from_json(json.dumps(tampered))
    for bad_port in ({"peers": ["10.250.0.12"]}, {"mac": "01:00:5e:00:00:01"}):
        tampered = {**data, "ports": [{**port, **bad_port}]}
        with pytest.raises((ValueError, TypeError)):
            Bundle.from_json(json.dumps(tampered))


def test_flat_ports_take_no_peers_and_pair_hashes_do_not_move() -> None:
    snap = cases.active_standby()
    master, _ = cases.pair()
    flat = dataclasses.replace(snap, amphora_ports={
        a.id: (snapshots.attachment(a.vrrp_ip or "", "10.250.0.0/24",
                                    subnet_id=cases.SUBNET_ID, port_id=a.vrrp_port_id),)
        for a in cases.pair()})
    (port,) = build_bundle(flat, master, FACTS).ports
    assert port.peers == ()
    assert "peers" not in json.dumps(_hashed(port))
    with pytest.raises(ValueError):
        dataclasses.replace(port, peers=(Peer("10.250.0.12", BACKUP_MAC, "10.246.0.2"),))


def _hashed(port: NetworkPort) -> dict[str, Any]:
    from nslb.model.bundle import _port_content
    return _port_content(port)


def test_segment_plan_keeps_static_entries_of_other_hosts_only() -> None:
    plan = segment_plan(4242, "10.246.0.1", 1450, ["10.246.0.2"],
                        [("FA:16:3E:00:00:12", "10.246.0.2"), (MASTER_MAC, "10.246.0.1")])
    assert plan.static == ((BACKUP_MAC, "10.246.0.2"),)
    for static in ([("ff:ff:ff:ff:ff:ff", "10.246.0.2")], [(BACKUP_MAC, "0.0.0.0")],
                   [(BACKUP_MAC, "10.246.0.2"), (BACKUP_MAC, "10.246.0.3")],
                   [(BACKUP_MAC, "fd00:246::2")]):
        with pytest.raises(BadSegment):
            segment_plan(4242, "10.246.0.1", 1450, [], static)


class _Msg(dict):  # type: ignore[type-arg]
    """A netlink message as pyroute2 hands it: header fields by key, NLAs by get_attr."""

    def __init__(self, attrs: dict[str, str], **fields: int) -> None:
        super().__init__(fields)
        self.attrs = attrs

    def get_attr(self, name: str) -> str | None:
        return self.attrs.get(name)


class FakeIPRoute:
    """Keeps fdb and neighbour tables the way the kernel does for these calls."""

    def __init__(self) -> None:
        self.fdb_table: dict[str, tuple[str, int]] = {}  # MAC -> (dst, state)
        self.neighbours: dict[str, tuple[str, int]] = {}  # address -> (MAC, state)
        self.writes: list[tuple[str, ...]] = []

    def fdb(self, command: str, ifindex: int, lladdr: str = "", dst: str = "",
            state: int = 0, flags: int = 0) -> list[_Msg]:
        if command == "dump":
            return [_Msg({"NDA_LLADDR": mac, "NDA_DST": d}, ifindex=ifindex, state=st)
                    for mac, (d, st) in self.fdb_table.items()]
        self.writes.append(("fdb", command, lladdr, dst))
        if command == "replace":
            self.fdb_table[lladdr] = (dst, state)
        elif command == "del":
            del self.fdb_table[lladdr]
        return []

    def get_neighbours(self, ifindex: int) -> list[_Msg]:
        return [_Msg({"NDA_DST": a, "NDA_LLADDR": mac}, ifindex=ifindex, state=st)
                for a, (mac, st) in self.neighbours.items()]

    def neigh(self, command: str, dst: str, ifindex: int, lladdr: str = "",
              state: int = 0) -> None:
        self.writes.append(("neigh", command, dst, lladdr))
        if command == "replace":
            self.neighbours[dst] = (lladdr, state)
        else:
            del self.neighbours[dst]


def test_static_fdb_entries_converge_and_a_second_run_writes_nothing() -> None:
    ipr = FakeIPRoute()
    ipr.fdb_table = {"fa:16:3e:00:00:12": ("10.246.0.9", 0x02),  # learned, wrong host
                     "fa:16:3e:00:00:99": ("10.246.0.3", NUD_PERMANENT),  # a gone peer
                     "fa:16:3e:00:00:77": ("10.246.0.3", 0x02)}  # learned: left alone
    wanted = ((BACKUP_MAC, "10.246.0.2"),)
    converge_static(ipr, 5, wanted)  # type: ignore[arg-type]
    assert ipr.fdb_table[BACKUP_MAC][0] == "10.246.0.2"
    assert ipr.fdb_table[BACKUP_MAC][1] & NUD_PERMANENT
    assert "fa:16:3e:00:00:99" not in ipr.fdb_table
    assert ipr.fdb_table["fa:16:3e:00:00:77"] == ("10.246.0.3", 0x02)
    ipr.writes.clear()
    converge_static(ipr, 5, wanted)  # type: ignore[arg-type]
    assert ipr.writes == []


def test_permanent_neighbours_converge_and_a_second_run_writes_nothing() -> None:
    ipr = FakeIPRoute()
    ipr.neighbours = {"10.250.0.12": ("fa:16:3e:00:00:55", 0x02),  # resolved by ARP
                      "10.250.0.13": ("fa:16:3e:00:00:56", NUD_PERMANENT),  # old peer
                      "10.250.0.1": ("fa:16:3e:00:00:57", 0x02)}  # the gateway: not ours
    wanted = (("10.250.0.12", BACKUP_MAC),)
    converge_neighbours(ipr, 3, wanted)  # type: ignore[arg-type]
    assert ipr.neighbours["10.250.0.12"] == (BACKUP_MAC, NUD_PERMANENT)
    assert "10.250.0.13" not in ipr.neighbours and "10.250.0.1" in ipr.neighbours
    ipr.writes.clear()
    converge_neighbours(ipr, 3, wanted)  # type: ignore[arg-type]
    assert ipr.writes == []
