"""`nslb demo`'s choice of network against the real API (the data-plane half runs in
tests/integration/test_demo.py): its own flat network on a fresh physnet, its own VLAN
segment when the physnet already has a flat network (the README quickstart), the recorded
network on a second run, and a demo network whose state file was lost taken back."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nslb.demo import run, site
from nslb.demo.run import NAME, Api, DemoState
from nslb.demo.site import Site

NET = "/networking/v2.0"


@pytest.fixture
def demo_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setattr(site, "RUN", tmp_path)
    return Site("fn-demo")


def choose(client: TestClient, state: DemoState, where: Site) -> tuple[dict[str, object], str]:
    said: list[str] = []
    net = run.demo_network(Api("", http=client), state, where, "physnet1", said.append)
    return net, " | ".join(said)


def test_fresh_physnet_gets_a_flat_network_then_it_is_reused(client: TestClient,
                                                              demo_site: Site) -> None:
    state = DemoState()
    net, said = choose(client, state, demo_site)
    assert (net["provider:network_type"], run.segment_of(net)) == ("flat", None)
    assert f"created network {NAME} (flat on physnet1)" in said
    again = DemoState.load(demo_site)
    assert (again.network_id, again.subnet_id) == (state.network_id, state.subnet_id)
    net2, said2 = choose(client, again, demo_site)
    assert net2["id"] == net["id"] and said2 == ""


def test_quickstart_flat_network_leaves_the_demo_its_own_vlan(client: TestClient,
                                                               demo_site: Site) -> None:
    lan = client.post(f"{NET}/networks", json={"network": {
        "name": "lan", "shared": True, "provider:network_type": "flat",
        "provider:physical_network": "physnet1"}}).json()["network"]
    client.post(f"{NET}/subnets", json={"subnet": {
        "network_id": lan["id"], "cidr": "192.0.2.0/24", "ip_version": 4}})
    state = DemoState()
    net, said = choose(client, state, demo_site)
    assert net["id"] != lan["id"] and net["provider:network_type"] == "vlan"
    assert run.segment_of(net) == net["provider:segmentation_id"]
    assert "physnet1 already has a flat network" in said
    subnets = client.get(f"{NET}/subnets?network_id={lan['id']}").json()["subnets"]
    assert [s["cidr"] for s in subnets] == ["192.0.2.0/24"]  # the user's network untouched


def test_a_demo_network_whose_state_was_lost_is_taken_back(client: TestClient,
                                                            demo_site: Site) -> None:
    first = DemoState()
    net, _ = choose(client, first, demo_site)
    lost = DemoState()  # /run cleared at boot: nslb still has the network and subnet
    again, said = choose(client, lost, demo_site)
    assert (again["id"], lost.subnet_id) == (net["id"], first.subnet_id)
    assert "created" not in said
