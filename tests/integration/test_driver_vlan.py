"""VLAN networks: a client on another segment of the same physnet cannot reach the VIP."""

from __future__ import annotations

from nslb.model.resources import Network
from tests.integration.conftest import Lab, TrackingDriver, sh
from tests.snapshots import PHYSNET, http_lb

VIP_URL = "http://10.250.2.10:80/"


def test_client_on_other_vlan_cannot_reach_vip(lab: Lab, driver: TrackingDriver) -> None:
    network = Network(network_type="vlan", physical_network=PHYSNET, segmentation_id=100,
                      mtu=1450)
    snap = http_lb([("10.250.2.21", {})], vip="10.250.2.10", cidr="10.250.2.0/24",
                   network=network)
    driver.apply(snap)
    segment_100 = lab.segment(100)
    segment_200 = lab.segment(200)
    lab.serve(lab.host("be1", ["10.250.2.21/24"], bridge=segment_100), "be1")
    inside = lab.host("cl", ["10.250.2.50/24"], bridge=segment_100)
    outside = lab.host("cx", ["10.250.2.51/24"], bridge=segment_200)
    assert lab.names(inside, VIP_URL, 2) == ["be1", "be1"]
    assert lab.names(outside, VIP_URL, 1, ) == ["error"]
    mtu = sh("ip", "netns", "exec", f"nslb-{snap.lb.id}", "ip", "-o", "link")
    assert "mtu 1450" in mtu
