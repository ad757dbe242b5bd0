"""A compute flavor an Octavia flavor profile names (`compute_flavor` in its flavor_data)
cannot be deleted: 409 in Nova's fault shape, naming the profile, and nothing changes.
Deleting the profile first frees it."""

from __future__ import annotations

import json

from starlette.testclient import TestClient
from test_compute_api import V, nova_fault


def _flavor(client: TestClient, ident: str) -> None:
    resp = client.post(f"{V}/flavors", json={"flavor": {
        "name": f"amp.{ident}", "ram": 256, "vcpus": 1, "disk": 0, "id": ident}})
    assert resp.status_code == 200, resp.text


def _profile(client: TestClient, name: str, data: dict[str, str]) -> str:
    resp = client.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": name, "provider_name": "amphora", "flavor_data": json.dumps(data)}})
    assert resp.status_code == 201, resp.text
    ident: str = resp.json()["flavorprofile"]["id"]
    return ident


def test_a_flavor_a_profile_names_is_kept(client: TestClient) -> None:
    _flavor(client, "gold")
    _flavor(client, "gold2")
    used = _profile(client, "gold-pair", {"compute_flavor": "gold",
                                          "loadbalancer_topology": "ACTIVE_STANDBY"})
    _profile(client, "other", {"compute_flavor": "gold2"})
    _profile(client, "plain", {"loadbalancer_topology": "SINGLE"})

    message = nova_fault(client.delete(f"{V}/flavors/gold"), 409, "conflictingRequest")
    assert message == ("Flavor gold is in use by Octavia flavor profile(s) "
                       f"gold-pair ({used}) as their compute_flavor and cannot be deleted.")
    assert client.get(f"{V}/flavors/gold").json()["flavor"]["name"] == "amp.gold"
    assert client.get(f"/v2/lbaas/flavorprofiles/{used}").status_code == 200

    assert client.delete(f"/v2/lbaas/flavorprofiles/{used}").status_code == 204
    assert client.delete(f"{V}/flavors/gold").status_code == 202
    assert nova_fault(client.get(f"{V}/flavors/gold"), 404, "itemNotFound") == (
        "Flavor gold could not be found.")
    # the other profile still holds its own flavor
    nova_fault(client.delete(f"{V}/flavors/gold2"), 409, "conflictingRequest")


def test_a_profile_changed_away_frees_the_flavor(client: TestClient) -> None:
    _flavor(client, "silver")
    ident = _profile(client, "silver-single", {"compute_flavor": "silver"})
    nova_fault(client.delete(f"{V}/flavors/silver"), 409, "conflictingRequest")
    resp = client.put(f"/v2/lbaas/flavorprofiles/{ident}", json={"flavorprofile": {
        "flavor_data": json.dumps({"loadbalancer_topology": "SINGLE"})}})
    assert resp.status_code == 200, resp.text
    assert client.delete(f"{V}/flavors/silver").status_code == 202
