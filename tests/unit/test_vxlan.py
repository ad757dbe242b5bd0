"""VXLAN as pure data: VNI ranges, the mtu arithmetic, the host segment plan (device,
bridge, head-end replication entries), and VXLAN ports in bundles (rendered with the
other hosts to flood to, checked when read back from the wire)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from nslb.model.bundle import Bundle, HostFacts, NetworkPort
from nslb.model.resources import Amphora, Network
from nslb.model.vxlan import BadSegment, overlay_mtu, parse_range
from nslb.netns.vxlan import FLOOD_MAC, bridge_name, device_name, segment_plan
from nslb.render.bundle import build_bundle
from tests.unit import render_cases as cases

FACTS = HostFacts(host="h", state_dir="/var/lib/nslb", fd_limit=4096)


def test_mtu_is_the_underlay_minus_the_vxlan_overhead() -> None:
    assert overlay_mtu(1500) == 1450
    assert overlay_mtu(1460) == 1410  # GCP's underlay
    assert overlay_mtu(9000) == 8950
    assert overlay_mtu(1500, underlay_version=6) == 1430


@pytest.mark.parametrize(("text", "expected"), [
    ("1000:1999", (1000, 1999)), ("1:1", (1, 1)), ("1:16777215", (1, 2**24 - 1))])
def test_vni_ranges(text: str, expected: tuple[int, int]) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["0:10", "1:16777216", "10:5", "1000", "a:b", "1000-1999"])
def test_bad_vni_ranges(text: str) -> None:
    with pytest.raises(BadSegment):
        parse_range(text)


def test_segment_plan_floods_to_every_other_host_once() -> None:
    plan = segment_plan(1001, "10.241.0.1", 1450,
                        ["10.241.0.3", "10.241.0.1", "10.241.0.12", "10.241.0.3"])
    assert (plan.bridge, plan.device, plan.mtu) == ("nsvxb1001", "nsvx1001", 1450)
    # numeric order, no duplicate, never the host itself
    assert plan.fdb() == [(FLOOD_MAC, "10.241.0.3"), (FLOOD_MAC, "10.241.0.12")]
    assert segment_plan(1001, "10.241.0.1", 1450, []).fdb() == []


def test_interface_names_fit_ifnamsiz() -> None:
    assert len(bridge_name(2**24 - 1)) <= 15 and len(device_name(2**24 - 1)) <= 15
    with pytest.raises(BadSegment):
        bridge_name(0)


@pytest.mark.parametrize(("vni", "local", "remotes"), [
    (0, "10.241.0.1", []), (2**24, "10.241.0.1", []), (5, "239.1.1.1", []),
    (5, "10.241.0.1", ["0.0.0.0"]), (5, "10.241.0.1", ["fd00:241::2"]),
    (5, "10.241.0.1", ["10.241.0.2; rm -rf /"])])
def test_bad_segment_plans(vni: int, local: str, remotes: list[str]) -> None:
    with pytest.raises(BadSegment):
        segment_plan(vni, local, 1450, remotes)


def _vxlan_snapshot(hosts: dict[str, str]):  # type: ignore[no-untyped-def]
    snap = cases.snapshot(listeners=(cases.listener(),), pools=(cases.pool(),),
                          members=cases.members())
    net = Network(id="net", network_type="vxlan", physical_network="", segmentation_id=4242,
                  mtu=1450)
    vip = dataclasses.replace(snap.vip, network=net)
    return dataclasses.replace(snap, vip=vip, vxlan_hosts={"net": hosts})


def test_a_vxlan_port_floods_to_the_other_hosts_of_its_network() -> None:
    snap = _vxlan_snapshot({"host-a": "10.241.0.1", "host-b": "10.241.0.2",
                            "host-c": "10.241.0.3"})
    amphora = Amphora(id=cases.LB_ID, loadbalancer_id=cases.LB_ID, compute_id="host-a")
    port = build_bundle(snap, amphora, FACTS).ports[0]
    assert (port.network_type, port.segmentation_id, port.mtu, port.physical_network) == \
        ("vxlan", 4242, 1450, "")
    assert port.flood == ("10.241.0.2", "10.241.0.3")


def test_bundle_round_trip_keeps_and_checks_the_flood_list() -> None:
    snap = _vxlan_snapshot({"host-b": "10.241.0.2"})
    bundle = build_bundle(snap, Amphora(id=cases.LB_ID, compute_id="host-a"), FACTS)
    again = Bundle.from_json(bundle.to_json())
    assert again == bundle and again.hash == bundle.hash
    data = json.loads(bundle.to_json())
    for bad in ({"flood": ["10.241.0.2", "not-an-address"]}, {"segmentation_id": 0},
                {"segmentation_id": None}, {"mtu": 10}, {"flood": [7]}):
        tampered = {**data, "ports": [{**data["ports"][0], **bad}]}
        with pytest.raises(ValueError):
            Bundle.from_json(json.dumps(tampered))


def test_flat_and_vlan_ports_hash_as_before_and_take_no_flood_list() -> None:
    port = NetworkPort(port_id="p", physical_network="physnet1", network_type="vlan",
                       segmentation_id=5, mtu=1500, mac="", addresses=("10.0.0.1/24",))
    bundle = Bundle(amphora_id="a", loadbalancer_id="l", generation=1, ports=(port,))
    # the hash as it was computed before ports had a flood list and peers: no re-apply
    # on upgrade
    before = {k: v for k, v in dataclasses.asdict(port).items()
              if k not in ("flood", "peers")}
    content = {"files": {}, "ports": [before],
               "manifest": dataclasses.asdict(bundle.manifest)}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    assert bundle.hash == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ValueError):
        dataclasses.replace(port, flood=("10.241.0.2",))
