"""Availability zone profiles, availability zones and the provider's AZ capabilities with
Octavia's shapes and errors (octavia/api/v2/controllers/availability_zones.py,
availability_zone_profiles.py, the amphora driver's AZ schema), and load balancer create
with `availability_zone`: unknown or disabled zone 400, a VIP network the zone does not
allow 400."""

from __future__ import annotations

import json
from typing import Any

import pytest
from octavia_helpers import API, LB_URL, create_lb, fault, vip_subnet
from starlette.testclient import TestClient

AZP_URL = f"{API}/availabilityzoneprofiles"
AZ_URL = f"{API}/availabilityzones"
CAPS_URL = f"{API}/providers/amphora/availability_zone_capabilities"
AGG_URL = "/compute/v2.1/os-aggregates"
UNSUPPORTED = "Provider 'amphora' does not support a requested option: "


def post_profile(client: TestClient, data: Any = None, **attrs: Any) -> Any:
    body = {"name": "azp", "provider_name": "amphora",
            "availability_zone_data": json.dumps({} if data is None else data), **attrs}
    return client.post(AZP_URL, json={"availability_zone_profile": body})


def profile(client: TestClient, data: Any = None, **attrs: Any) -> dict[str, Any]:
    resp = post_profile(client, data, **attrs)
    assert resp.status_code == 201, resp.text
    found: dict[str, Any] = resp.json()["availability_zone_profile"]
    return found


def zone(client: TestClient, profile_id: str, name: str = "az1",
         **attrs: Any) -> dict[str, Any]:
    resp = client.post(AZ_URL, json={"availability_zone": {
        "name": name, "availability_zone_profile_id": profile_id, **attrs}})
    assert resp.status_code == 201, resp.text
    found: dict[str, Any] = resp.json()["availability_zone"]
    return found


def compute_zone(client: TestClient, name: str) -> None:
    resp = client.post(AGG_URL, json={"aggregate": {"name": f"agg-{name}",
                                                    "availability_zone": name}})
    assert resp.status_code == 200, resp.text


def test_profile_and_zone_crud_with_octavias_shapes(client: TestClient) -> None:
    compute_zone(client, "rack1")
    data = '{"compute_zone": "rack1"}'
    azp = profile(client, {"compute_zone": "rack1"})
    assert set(azp) == {"id", "name", "provider_name", "availability_zone_data"}
    assert azp["availability_zone_data"] == data
    assert client.get(f"{AZP_URL}/{azp['id']}").json() == {"availability_zone_profile": azp}
    assert client.get(AZP_URL).json() == {"availability_zone_profiles": [azp],
                                          "availability_zone_profile_links": []}
    az = zone(client, azp["id"], description="first rack")
    assert az == {"name": "az1", "description": "first rack", "enabled": True,
                  "availability_zone_profile_id": azp["id"]}
    assert client.get(f"{AZ_URL}/az1").json() == {"availability_zone": az}
    assert client.get(AZ_URL).json() == {"availability_zones": [az],
                                         "availability_zones_links": []}
    resp = client.put(f"{AZ_URL}/az1", json={"availability_zone": {"enabled": False}})
    assert resp.status_code == 200 and resp.json()["availability_zone"]["enabled"] is False
    # the zone's profile keeps its meaning while the zone uses it
    resp = client.put(f"{AZP_URL}/{azp['id']}", json={"availability_zone_profile": {
        "availability_zone_data": "{}"}})
    assert fault(resp, 409) == (f"Availability Zone Profile {azp['id']} is in use and "
                                "cannot be modified.")
    assert fault(client.delete(f"{AZP_URL}/{azp['id']}"), 409).endswith("is in use and "
                                                                         "cannot be modified.")
    assert fault(client.post(AZ_URL, json={"availability_zone": {
        "name": "az1", "availability_zone_profile_id": azp["id"]}}), 409) == (
        "A availability zone of az1 already exists.")
    assert client.delete(f"{AZ_URL}/az1").status_code == 204
    assert fault(client.get(f"{AZ_URL}/az1"), 404) == "Availability Zone az1 not found."
    assert client.delete(f"{AZP_URL}/{azp['id']}").status_code == 204
    assert fault(client.get(f"{AZP_URL}/{azp['id']}"), 404).startswith(
        "Availability Zone Profile")


@pytest.mark.parametrize(("data", "status", "text"), [
    ('{"a": ', 400, '{"a":  is not a valid option for availability_zone_data'),
    ('{"bogus": 1}', 501, UNSUPPORTED + "Additional properties are not allowed ('bogus' "
                                        "was unexpected)"),
    ('{"management_network": "x"}', 501, UNSUPPORTED + "Additional properties are not "
     "allowed ('management_network' was unexpected)"),
    ('{"valid_vip_networks": "x"}', 501, UNSUPPORTED + "valid_vip_networks 'x' is not of "
                                                       "type 'array'"),
    ('{"compute_zone": "nowhere"}', 400, "Nova availability zone nowhere not found."),
])
def test_profile_data_is_checked_as_octavia(client: TestClient, data: str, status: int,
                                            text: str) -> None:
    resp = client.post(AZP_URL, json={"availability_zone_profile": {
        "name": "p", "provider_name": "amphora", "availability_zone_data": data}})
    assert fault(resp, status) == text
    assert client.get(AZP_URL).json()["availability_zone_profiles"] == []


def test_zone_needs_an_existing_profile(client: TestClient) -> None:
    resp = client.post(AZ_URL, json={"availability_zone": {
        "name": "z", "availability_zone_profile_id": "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"}})
    assert fault(resp, 400) == "Validation failure: Invalid availability_zone_profile_id."


def test_capabilities_name_the_zone_keys(client: TestClient) -> None:
    caps = client.get(CAPS_URL).json()["availability_zone_capabilities"]
    assert [c["name"] for c in caps] == ["compute_zone", "valid_vip_networks"]


def test_lb_create_checks_the_zone_and_its_vip_networks(client: TestClient) -> None:
    subnet = vip_subnet(client)
    other = vip_subnet(client, "10.239.9.0/24")
    azp = profile(client, {"valid_vip_networks": [subnet["network_id"]]})
    zone(client, azp["id"], "allowed")
    zone(client, azp["id"], "off", enabled=False)
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "availability_zone": "nowhere"}})
    assert fault(resp, 400) == "Validation failure: Invalid availability zone."
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "availability_zone": "off"}})
    assert fault(resp, 400) == ("The selected availability_zone is not allowed in this "
                                "deployment: off")
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": other["id"],
                                                      "availability_zone": "allowed"}})
    assert fault(resp, 400) == ("Validation failure: Supplied VIP network_id is not allowed "
                                "by the configuration of this deployment.")
    # the refused creates left no load balancer and no VIP port behind
    assert client.get(LB_URL).json()["loadbalancers"] == []
    vip_ports = client.get("/networking/v2.0/ports", params={"device_owner": "Octavia"})
    assert vip_ports.json()["ports"] == []
    lb = create_lb(client, subnet["id"], availability_zone="allowed")
    assert lb["availability_zone"] == "allowed"
    assert fault(client.delete(f"{AZ_URL}/allowed"), 409) == (
        "Availability Zone allowed is in use and cannot be modified.")
