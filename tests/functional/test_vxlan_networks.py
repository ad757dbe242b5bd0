"""VXLAN networks through the real app, against Neutron's ML2 tunnel type driver: the VNI
as provider:segmentation_id (allocated from --vxlan-vni-range when not given, 409 when
taken), no physical network, and an mtu of the underlay's minus the VXLAN overhead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from tests.functional.test_networking import API, PROJECT, error, make_network

VXLAN = {"provider:network_type": "vxlan"}


@pytest.fixture
def vx_client(tmp_path: Any, db: Database) -> Iterator[TestClient]:
    """A small VNI range (3 VNIs) and a GCP-like 1460 underlay."""
    settings = Settings(state_dir=tmp_path, physnet=["physnet1:nslbt-br1"],
                        vxlan_vni_range="1000:1002", underlay_mtu=1460)
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as c:
        yield c


def test_vxlan_network_wire_shape_and_mtu(vx_client: TestClient) -> None:
    net = make_network(vx_client, **VXLAN)
    assert (net["provider:network_type"], net["provider:physical_network"],
            net["provider:segmentation_id"], net["mtu"]) == ("vxlan", None, 1000, 1410)
    shown = vx_client.get(f"{API}/networks/{net['id']}").json()["network"]
    assert shown == net
    listed = vx_client.get(f"{API}/networks?provider:network_type=vxlan").json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]


def test_vnis_come_from_the_range_lowest_free_first(vx_client: TestClient) -> None:
    given = make_network(vx_client, **VXLAN, **{"provider:segmentation_id": 1001})
    first = make_network(vx_client, **VXLAN)
    third = make_network(vx_client, **VXLAN)
    assert [n["provider:segmentation_id"] for n in (given, first, third)] == [1001, 1000, 1002]
    fault = error(make_network(vx_client, 409, **VXLAN))
    assert fault["message"] == ("Unable to create the network. No tenant network is "
                                "available for allocation.")
    # outside the range is fine when given (Neutron allocates it too)
    assert make_network(vx_client, **VXLAN, **{"provider:segmentation_id": 5000})[
        "provider:segmentation_id"] == 5000
    vx_client.delete(f"{API}/networks/{first['id']}")
    assert make_network(vx_client, **VXLAN)["provider:segmentation_id"] == 1000


def test_a_taken_vni_is_409_tunnel_id_in_use(vx_client: TestClient) -> None:
    attrs = {**VXLAN, "provider:segmentation_id": 77}
    make_network(vx_client, **attrs)
    fault = error(make_network(vx_client, 409, **attrs))
    assert fault["type"] == "TunnelIdInUse"
    assert fault["message"] == "Unable to create the network. The tunnel ID 77 is in use."
    # a VLAN with the same id on a physnet is another segment
    make_network(vx_client, **{"provider:network_type": "vlan",
                               "provider:physical_network": "physnet1",
                               "provider:segmentation_id": 77})


def test_mtu_below_the_limit_is_kept_above_is_400(vx_client: TestClient) -> None:
    assert make_network(vx_client, mtu=1400, **VXLAN)["mtu"] == 1400
    fault = error(make_network(vx_client, 400, mtu=1411, **VXLAN))
    assert fault["message"] == ("Invalid input for operation: Requested MTU is too big, "
                                "maximum is 1410.")
    net = make_network(vx_client, **VXLAN)
    url = f"{API}/networks/{net['id']}"
    assert vx_client.put(url, json={"network": {"mtu": 1300}}).json()["network"]["mtu"] == 1300
    bad = vx_client.put(url, json={"network": {"mtu": 1450}})
    assert bad.status_code == 400 and "maximum is 1410" in error(bad.json())["message"]
    # the limit is the underlay's: a flat network keeps its own mtu rules
    assert make_network(vx_client, mtu=1500, **{"provider:network_type": "flat"})["mtu"] == 1500


@pytest.mark.parametrize(("attrs", "message"), [
    ({"provider:physical_network": "physnet1"},
     "Invalid input for operation: provider:physical_network specified for vxlan network."),
    ({"provider:segmentation_id": 0},
     "Invalid input for operation: segmentation_id out of range (1 through 16777215)."),
    ({"provider:segmentation_id": 2**24},
     "Invalid input for operation: segmentation_id out of range (1 through 16777215)."),
])
def test_bad_vxlan_requests_are_400_with_neutrons_words(vx_client: TestClient,
                                                        attrs: dict[str, Any],
                                                        message: str) -> None:
    assert error(make_network(vx_client, 400, **VXLAN, **attrs))["message"] == message


def test_the_vni_cannot_change(vx_client: TestClient) -> None:
    net = make_network(vx_client, **VXLAN)
    bad = vx_client.put(f"{API}/networks/{net['id']}",
                        json={"network": {"provider:segmentation_id": 1002}})
    assert bad.status_code == 400
    assert "provider:segmentation_id" in error(bad.json())["message"]
    same = vx_client.put(f"{API}/networks/{net['id']}",
                         json={"network": {"provider:physical_network": None}})
    assert same.status_code == 200, same.text


def test_vni_range_and_underlay_settings_are_checked() -> None:
    from nslb.config import ConfigError

    for bad in ({"vxlan_vni_range": "5:1"}, {"vxlan_vni_range": "0:10"},
                {"vxlan_vni_range": "1-10"}, {"underlay_mtu": 1000},
                {"underlay_address": "224.0.0.1"}, {"underlay_address": "nope"}):
        with pytest.raises(ConfigError):
            Settings(**bad).validate()  # type: ignore[arg-type]
    Settings(vxlan_vni_range="1:16777215", underlay_address="10.241.0.1").validate()
