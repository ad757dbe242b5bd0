"""Nova's microversions at /compute/v2.1 (nslb/api/compute/microversion.py): the two
request headers, `latest`, no header = the minimum, 400 for a malformed version and 406
outside 2.53-2.85 in Nova's words and fault shape, the response headers, the version
documents, and the flavor fields that come and go by version."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from test_compute_api import V, add_host, nova_fault

from nslb.db.engine import Database

VARY = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"


def _at(version: str | None, legacy: bool = False) -> dict[str, str]:
    if version is None:
        return {}
    if legacy:
        return {"X-OpenStack-Nova-API-Version": version}
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.mark.parametrize(("sent", "legacy", "served"), [
    (None, False, "2.53"), ("2.61", False, "2.61"), ("2.61", True, "2.61"),
    ("latest", False, "2.85"), ("latest", True, "2.85"), ("2.53", False, "2.53")])
def test_the_version_served_is_stamped_on_the_answer(client: TestClient, sent: str | None,
                                                     legacy: bool, served: str) -> None:
    resp = client.get(f"{V}/flavors", headers=_at(sent, legacy))
    assert resp.status_code == 200, resp.text
    assert resp.headers["OpenStack-API-Version"] == f"compute {served}"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == served
    assert resp.headers["Vary"] == VARY


def test_the_standard_header_wins_and_may_list_other_services(client: TestClient) -> None:
    resp = client.get(f"{V}/flavors", headers={
        "OpenStack-API-Version": "volume 3.10, compute 2.75",
        "X-OpenStack-Nova-API-Version": "2.60"})
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.75"
    # a header for another service only: the legacy one, else the minimum
    resp = client.get(f"{V}/flavors", headers={"OpenStack-API-Version": "volume 3.10"})
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.53"


@pytest.mark.parametrize("sent", ["2.1", "2.52", "2.86", "3.0", "2.100"])
def test_out_of_range_is_406_in_novas_shape(client: TestClient, sent: str) -> None:
    for legacy in (False, True):
        resp = client.get(f"{V}/flavors", headers=_at(sent, legacy))
        assert nova_fault(resp, 406, "computeFault") == (
            f"Version {sent} is not supported by the API. Minimum is 2.53 and maximum "
            "is 2.85.")
        assert "OpenStack-API-Version" not in resp.headers


@pytest.mark.parametrize("sent", ["2", "2.x", "02.60", "2.060", "v2.60", "2.60.1", ""])
def test_a_malformed_version_is_400(client: TestClient, sent: str) -> None:
    resp = client.get(f"{V}/os-aggregates", headers={"X-OpenStack-Nova-API-Version": sent})
    assert nova_fault(resp, 400, "badRequest") == (
        f"API Version String {sent} is of invalid format. Must be of format "
        "MajorNum.MinorNum.")


def test_a_refused_version_changes_nothing(client: TestClient) -> None:
    resp = client.post(f"{V}/flavors", headers=_at("2.1"), json={"flavor": {
        "name": "amp.x", "ram": 64, "vcpus": 1, "id": "x"}})
    nova_fault(resp, 406, "computeFault")
    assert client.get(f"{V}/flavors").json()["flavors"] == []


def test_version_documents(client: TestClient) -> None:
    root = client.get("/compute/")
    assert [(v["id"], v["min_version"], v["version"]) for v in root.json()["versions"]] == [
        ("v2.1", "2.53", "2.85")]
    assert "OpenStack-API-Version" not in root.headers  # Nova's versions app is unversioned
    doc = client.get(f"{V}", headers=_at("latest"))
    assert doc.json()["version"]["min_version"] == "2.53"
    assert doc.headers["OpenStack-API-Version"] == "compute 2.85"


def test_flavor_fields_by_version(client: TestClient) -> None:
    created = client.post(f"{V}/flavors", headers=_at("2.55"), json={"flavor": {
        "name": "amp.gold", "ram": 256, "vcpus": 1, "id": "gold", "description": "ssd pair"}})
    assert created.status_code == 200, created.text
    client.post(f"{V}/flavors/gold/os-extra_specs", json={"extra_specs": {"k": "v"}})

    def show(version: str) -> dict[str, object]:
        found: dict[str, object] = client.get(f"{V}/flavors/gold",
                                              headers=_at(version)).json()["flavor"]
        return found

    old, desc, specs, swap0 = show("2.54"), show("2.55"), show("2.61"), show("2.75")
    assert ("description" in old, "extra_specs" in old, old["swap"]) == (False, False, "")
    assert (desc["description"], "extra_specs" in desc) == ("ssd pair", False)
    assert (specs["extra_specs"], specs["swap"]) == ({"k": "v"}, "")
    assert swap0["swap"] == 0
    listed = client.get(f"{V}/flavors", headers=_at("2.61")).json()["flavors"]
    assert (listed[0]["description"], "extra_specs" in listed[0]) == ("ssd pair", False)
    detail = client.get(f"{V}/flavors/detail", headers=_at("2.61")).json()["flavors"]
    assert detail[0]["extra_specs"] == {"k": "v"}
    assert "description" not in client.get(f"{V}/flavors").json()["flavors"][0]


def test_flavor_description_needs_2_55(client: TestClient) -> None:
    body = {"flavor": {"name": "amp.x", "ram": 64, "vcpus": 1, "id": "x", "description": "d"}}
    assert nova_fault(client.post(f"{V}/flavors", headers=_at("2.54"), json=body),
                      400, "badRequest").endswith("('description' was unexpected)")
    assert client.get(f"{V}/flavors").json()["flavors"] == []
    assert client.post(f"{V}/flavors", headers=_at("2.55"), json=body).status_code == 200
    update = {"flavor": {"description": "rack b"}}
    nova_fault(client.put(f"{V}/flavors/x", headers=_at("2.54"), json=update), 404,
               "itemNotFound")
    resp = client.put(f"{V}/flavors/x", headers=_at("2.55"), json=update)
    assert resp.json()["flavor"]["description"] == "rack b"
    nova_fault(client.put(f"{V}/flavors/x", headers=_at("2.55"), json={"flavor": {
        "name": "y"}}), 400, "badRequest")
    nova_fault(client.put(f"{V}/flavors/x", headers=_at("2.55"), json={"flavor": {
        "description": "bad\x00"}}), 400, "badRequest")
    assert client.get(f"{V}/flavors/x", headers=_at("2.55")).json()["flavor"][
        "description"] == "rack b"


def test_ids_are_uuids_and_errors_carry_the_version(client: TestClient, db: Database) -> None:
    host_id = add_host(db, "mv-host-1")
    services = client.get(f"{V}/os-services", headers=_at("2.53")).json()["services"]
    assert [s["id"] for s in services] == [host_id]
    shown = client.get(f"{V}/os-hypervisors/{host_id}", headers=_at("2.85"))
    assert shown.json()["hypervisor"]["id"] == host_id
    missing = client.get(f"{V}/flavors/none", headers=_at("2.60"))
    nova_fault(missing, 404, "itemNotFound")
    assert missing.headers["X-OpenStack-Nova-API-Version"] == "2.60"
    aggregate = client.post(f"{V}/os-aggregates", json={"aggregate": {"name": "a"}})
    assert aggregate.json()["aggregate"]["uuid"]  # from 2.41, so always
