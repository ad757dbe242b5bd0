"""Flavor profiles, flavors and the provider's flavor capabilities with Octavia's shapes,
policies and errors (octavia/api/v2/controllers/flavors.py, flavor_profiles.py, the amphora
driver's flavor schema), and load balancer create with `flavor_id`: the flavor's topology
decides the amphorae."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PHYSNETS, PROJECT
from keystone_helpers import Cloud, keystone_cloud
from octavia_helpers import API, LB_URL, create_lb, fault, vip_subnet
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.worker.loop import Worker

FP_URL = f"{API}/flavorprofiles"
FLAVOR_URL = f"{API}/flavors"
CAPS_URL = f"{API}/providers/amphora/flavor_capabilities"
AMPHORAE_URL = "/v2/octavia/amphorae"
TOPOLOGY_TEXT = ("The load balancer topology. One of: SINGLE - One amphora per load "
                 "balancer. ACTIVE_STANDBY - Two amphora per load balancer.")
UNSUPPORTED = "Provider 'amphora' does not support a requested option: "
MISSING_UUID = "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"


def post_profile(client: TestClient, data: Any = None, **attrs: Any) -> Any:
    body = {"name": "fp", "provider_name": "amphora",
            "flavor_data": json.dumps({} if data is None else data), **attrs}
    return client.post(FP_URL, json={"flavorprofile": body})


def profile(client: TestClient, data: Any = None, **attrs: Any) -> dict[str, Any]:
    resp = post_profile(client, data, **attrs)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()["flavorprofile"]
    return result


def flavor(client: TestClient, profile_id: str, name: str = "f",
           **attrs: Any) -> dict[str, Any]:
    resp = client.post(FLAVOR_URL, json={"flavor": {
        "name": name, "flavor_profile_id": profile_id, **attrs}})
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()["flavor"]
    return result


def topology_flavor(client: TestClient, topology: str, name: str = "f",
                    **attrs: Any) -> dict[str, Any]:
    fp = profile(client, {"loadbalancer_topology": topology}, name=f"fp-{name}")
    return flavor(client, fp["id"], name, **attrs)


def roles_of(client: TestClient, lb_id: str) -> list[str]:
    resp = client.get(AMPHORAE_URL, params={"loadbalancer_id": lb_id})
    assert resp.status_code == 200, resp.text
    return sorted(a["role"] for a in resp.json()["amphorae"])


# --- flavor profiles ---------------------------------------------------------------------


def test_profile_create_show_list_with_octavias_shapes(client: TestClient) -> None:
    data = '{"loadbalancer_topology": "ACTIVE_STANDBY"}'
    resp = client.post(FP_URL, json={"flavorprofile": {
        "name": "amphora-act-stdby", "provider_name": "amphora", "flavor_data": data}})
    assert resp.status_code == 201, resp.text
    fp = resp.json()["flavorprofile"]
    assert set(fp) == {"id", "name", "provider_name", "flavor_data"}
    assert (fp["name"], fp["provider_name"], fp["flavor_data"]) == (
        "amphora-act-stdby", "amphora", data)  # the JSON string, verbatim
    assert client.get(f"{FP_URL}/{fp['id']}").json() == {"flavorprofile": fp}
    listing = client.get(FP_URL).json()
    assert listing == {"flavorprofiles": [fp], "flavorprofile_links": []}  # Octavia's key
    only = client.get(f"{FP_URL}/{fp['id']}", params={"fields": "id"}).json()
    assert only == {"flavorprofile": {"id": fp["id"]}}
    assert client.get(FP_URL, params={"name": "other"}).json()["flavorprofiles"] == []


def test_profile_accepts_empty_data_and_the_octavia_alias(client: TestClient) -> None:
    assert profile(client, {})["flavor_data"] == "{}"
    assert profile(client, {"loadbalancer_topology": "SINGLE"},
                   provider_name="octavia")["provider_name"] == "octavia"


@pytest.mark.parametrize("missing", ["name", "provider_name", "flavor_data"])
def test_profile_fields_are_mandatory(client: TestClient, missing: str) -> None:
    body = {"name": "fp", "provider_name": "amphora", "flavor_data": "{}"}
    del body[missing]
    assert fault(client.post(FP_URL, json={"flavorprofile": body}), 400) == (
        f"Invalid input for field/attribute {missing}. Value: 'None'. "
        "Mandatory field missing.")


@pytest.mark.parametrize("raw", ['{hello: "world"}', "", "{", "NaN", '{"a": NaN}'])
def test_profile_data_that_is_not_json_is_400(client: TestClient, raw: str) -> None:
    text = fault(post_profile(client, flavor_data=raw), 400)
    assert text == f"{raw} is not a valid option for flavor_data"
    assert client.get(FP_URL).json()["flavorprofiles"] == []


def test_profile_errors_never_echo_a_long_value(client: TestClient) -> None:
    raw = "x" * 4000
    text = fault(post_profile(client, flavor_data=raw), 400)
    assert text == "x" * 64 + "... is not a valid option for flavor_data"
    key = "k" * 3000
    text = fault(post_profile(client, {key: 1}), 501)
    assert len(text) < 200 and key not in text


@pytest.mark.parametrize(("data", "problem"), [
    ({"bogus": 1}, "Additional properties are not allowed ('bogus' was unexpected)"),
    ({"compute_flavor": "m1", "amp_image_tag": "x", "sriov_vip": True},
     "Additional properties are not allowed ('amp_image_tag', 'sriov_vip' were "
     "unexpected)"),
    # unknown keys are reported first, as jsonschema's best_match ranks them
    ({"loadbalancer_topology": "X", "sriov_vip": True},
     "Additional properties are not allowed ('sriov_vip' was unexpected)"),
    ({"loadbalancer_topology": "BOGUS"},
     "loadbalancer_topology 'BOGUS' is not one of ['ACTIVE_STANDBY', 'SINGLE']"),
    ({"loadbalancer_topology": "single"},
     "loadbalancer_topology 'single' is not one of ['ACTIVE_STANDBY', 'SINGLE']"),
    ({"loadbalancer_topology": 1}, "loadbalancer_topology 1 is not of type 'string'"),
    ({"loadbalancer_topology": None}, "loadbalancer_topology None is not of type 'string'"),
    ([], "[] is not of type 'object'"),
    ("SINGLE", "'SINGLE' is not of type 'object'"),
])
def test_profile_data_outside_the_schema_is_501(client: TestClient, data: Any,
                                                problem: str) -> None:
    assert fault(post_profile(client, data), 501) == UNSUPPORTED + problem
    assert client.get(FP_URL).json()["flavorprofiles"] == []


def test_profile_of_a_provider_not_enabled_is_400(client: TestClient) -> None:
    text = fault(post_profile(client, provider_name="ovn"), 400)
    assert text == "Provider 'ovn' is not enabled."


@pytest.mark.parametrize(("field", "size"), [("name", 256), ("provider_name", 256),
                                             ("flavor_data", 4097)])
def test_profile_lengths_are_octavias(client: TestClient, field: str, size: int) -> None:
    fault(post_profile(client, **{field: "n" * size}), 400)


def test_profile_update(client: TestClient) -> None:
    fp = profile(client, {"loadbalancer_topology": "SINGLE"})
    url = f"{FP_URL}/{fp['id']}"
    data = '{"loadbalancer_topology": "ACTIVE_STANDBY"}'
    resp = client.put(url, json={"flavorprofile": {"name": "the_profile", "flavor_data": data,
                                                   "provider_name": "octavia"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["flavorprofile"] == {**fp, "name": "the_profile", "flavor_data": data,
                                            "provider_name": "octavia"}
    assert client.put(url, json={"flavorprofile": {}}).json()["flavorprofile"]["name"] == \
        "the_profile"
    for key in ("name", "provider_name", "flavor_data"):
        assert fault(client.put(url, json={"flavorprofile": {key: None}}), 400) == \
            f"None is not a valid option for {key}"
    assert fault(client.put(url, json={"flavorprofile": {"flavor_data": '{"x": 1}'}}),
                 501) == "Provider 'octavia' does not support a requested option: " \
        "Additional properties are not allowed ('x' was unexpected)"
    assert fault(client.put(url, json={"flavorprofile": {"provider_name": "ovn"}}), 400) == \
        "Provider 'ovn' is not enabled."
    assert fault(client.put(url, json={"flavorprofile": {"flavor_data": "{x"}}), 400) == \
        "{x is not a valid option for flavor_data"
    assert client.get(url).json()["flavorprofile"]["flavor_data"] == data


def test_profile_in_use_keeps_its_meaning_and_cannot_go(client: TestClient) -> None:
    fp = profile(client, {"loadbalancer_topology": "SINGLE"})
    flavor(client, fp["id"])
    url = f"{FP_URL}/{fp['id']}"
    in_use = f"Flavor profile {fp['id']} is in use and cannot be modified."
    for change in ({"provider_name": "octavia"}, {"flavor_data": "{}"},
                   {"name": "renamed", "flavor_data": fp["flavor_data"]}):
        assert fault(client.put(url, json={"flavorprofile": change}), 409) == in_use
    assert client.get(url).json()["flavorprofile"] == fp
    renamed = client.put(url, json={"flavorprofile": {"name": "renamed"}})
    assert renamed.status_code == 200 and renamed.json()["flavorprofile"]["name"] == "renamed"
    assert fault(client.delete(url), 409) == in_use


def test_profile_delete_and_not_found(client: TestClient) -> None:
    fp = profile(client)
    url = f"{FP_URL}/{fp['id']}"
    assert client.delete(url).status_code == 204
    assert fault(client.get(url), 404) == f"Flavor Profile {fp['id']} not found."
    assert fault(client.put(url, json={"flavorprofile": {"name": "x"}}), 404) == \
        f"Flavor Profile {fp['id']} not found."
    assert fault(client.delete(url), 404) == f"Flavor profile {fp['id']} not found."
    assert fault(client.delete(f"{FP_URL}/bogus_id"), 404) == \
        "Flavor profile bogus_id not found."


# --- flavors -------------------------------------------------------------------------------


def test_flavor_create_show_list_with_octavias_shapes(client: TestClient) -> None:
    fp = profile(client)
    resp = client.post(FLAVOR_URL, json={"flavor": {"name": "Basic",
                                                    "flavor_profile_id": fp["id"]}})
    assert resp.status_code == 201, resp.text
    created = resp.json()["flavor"]
    assert created == {"id": created["id"], "name": "Basic", "description": "",
                       "enabled": True, "flavor_profile_id": fp["id"]}
    assert client.get(f"{FLAVOR_URL}/{created['id']}").json() == {"flavor": created}
    other = flavor(client, fp["id"], "Other", description="d", enabled=False)
    assert (other["description"], other["enabled"]) == ("d", False)
    listing = client.get(FLAVOR_URL, params={"sort": "name"}).json()
    assert listing == {"flavors": [created, other], "flavors_links": []}
    # the CLI's --enable/--disable/--flavorprofile/--name filters, and fields
    assert [f["name"] for f in client.get(FLAVOR_URL, params={"enabled": "False"}).json()[
        "flavors"]] == ["Other"]
    assert [f["name"] for f in client.get(FLAVOR_URL, params={"name": "Basic"}).json()[
        "flavors"]] == ["Basic"]
    assert len(client.get(FLAVOR_URL, params={"flavor_profile_id": fp["id"]}).json()[
        "flavors"]) == 2
    names = client.get(FLAVOR_URL, params={"fields": ["id", "name"], "sort": "name"}).json()[
        "flavors"]
    assert names == [{"id": created["id"], "name": "Basic"}, {"id": other["id"],
                                                              "name": "Other"}]


@pytest.mark.parametrize(("body", "message"), [
    ({"flavor_profile_id": MISSING_UUID},
     "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."),
    ({"name": "xyz"}, "Invalid input for field/attribute flavor_profile_id. Value: 'None'. "
                      "Mandatory field missing."),
    ({"name": "xyz", "flavor_profile_id": "bogus"},
     "Invalid input for field/attribute flavor_profile_id. Value: 'bogus'. "
     "Value should be UUID format"),
    ({"name": "xyz", "flavor_profile_id": MISSING_UUID},
     "Validation failure: Invalid flavor_profile_id."),
])
def test_flavor_create_errors(client: TestClient, body: dict[str, Any], message: str) -> None:
    assert fault(client.post(FLAVOR_URL, json={"flavor": body}), 400) == message
    assert client.get(FLAVOR_URL).json()["flavors"] == []


def test_flavor_lengths_and_duplicate_names(client: TestClient) -> None:
    fp = profile(client)
    for attrs in ({"name": "n" * 256}, {"name": "ok", "description": "d" * 256}):
        fault(client.post(FLAVOR_URL, json={"flavor": {"flavor_profile_id": fp["id"],
                                                       **attrs}}), 400)
    first = flavor(client, fp["id"], "name")
    dup = client.post(FLAVOR_URL, json={"flavor": {"name": "name",
                                                   "flavor_profile_id": fp["id"]}})
    assert fault(dup, 409) == "A flavor of name already exists."
    second = flavor(client, fp["id"], "second")
    rename = client.put(f"{FLAVOR_URL}/{second['id']}", json={"flavor": {"name": "name"}})
    assert fault(rename, 409) == "A flavor of name already exists."
    assert [f["id"] for f in client.get(FLAVOR_URL, params={"name": "name"}).json()[
        "flavors"]] == [first["id"]]


def test_flavor_update(client: TestClient) -> None:
    fp = profile(client)
    created = flavor(client, fp["id"], "Fancy_Flavor", description="A great flavor.")
    url = f"{FLAVOR_URL}/{created['id']}"
    resp = client.put(url, json={"flavor": {"name": "Better_Flavor", "enabled": False,
                                            "description": "An even better flavor."}})
    assert resp.status_code == 200, resp.text
    expected = {**created, "name": "Better_Flavor", "enabled": False,
                "description": "An even better flavor."}
    assert resp.json()["flavor"] == expected
    assert client.put(url, json={"flavor": {}}).json()["flavor"] == expected
    # the CLI's `flavor unset --description` sends null
    assert client.put(url, json={"flavor": {"description": None}}).json()["flavor"][
        "description"] == ""
    other = profile(client, name="other")
    fault(client.put(url, json={"flavor": {"flavor_profile_id": other["id"]}}), 400)
    fault(client.put(url, json={"flavor": {"enabled": None}}), 400)
    assert client.get(url).json()["flavor"]["flavor_profile_id"] == fp["id"]
    assert fault(client.put(f"{FLAVOR_URL}/{MISSING_UUID}", json={"flavor": {"name": "x"}}),
                 404) == f"Flavor {MISSING_UUID} not found."


def test_flavor_delete(client: TestClient) -> None:
    fp = profile(client)
    created = flavor(client, fp["id"])
    url = f"{FLAVOR_URL}/{created['id']}"
    assert client.delete(url).status_code == 204
    assert fault(client.get(url), 404) == f"Flavor {created['id']} not found."
    assert fault(client.delete(url), 404) == f"Flavor {created['id']} not found."
    assert fault(client.delete(f"{FLAVOR_URL}/bogus_id"), 404) == "Flavor bogus_id not found."
    assert client.delete(f"{FP_URL}/{fp['id']}").status_code == 204  # no longer in use


# --- capabilities --------------------------------------------------------------------------


def test_flavor_capabilities_name_what_nslb_honours(client: TestClient) -> None:
    caps = client.get(CAPS_URL)
    assert caps.status_code == 200
    assert caps.json() == {"flavor_capabilities": [
        {"name": "loadbalancer_topology", "description": TOPOLOGY_TEXT},
        {"name": "compute_flavor", "description": "The compute driver flavor ID."}]}
    assert client.get(CAPS_URL, params={"name": "amp_image_tag"}).json() == {
        "flavor_capabilities": []}
    assert client.get(CAPS_URL, params={"fields": "name"}).json() == {
        "flavor_capabilities": [{"name": "loadbalancer_topology"},
                                {"name": "compute_flavor"}]}
    alias = client.get(f"{API}/providers/octavia/flavor_capabilities").json()
    assert alias == caps.json()


# --- load balancer create with a flavor ------------------------------------------------------


def test_lb_with_an_active_standby_flavor_gets_a_pair(client: TestClient,
                                                      worker: Worker) -> None:
    subnet = vip_subnet(client)
    pair = topology_flavor(client, "ACTIVE_STANDBY", "ha")
    lb = create_lb(client, subnet["id"], flavor_id=pair["id"])
    assert lb["flavor_id"] == pair["id"] and lb["provider"] == "amphora"
    assert roles_of(client, lb["id"]) == ["BACKUP", "MASTER"]
    worker.drain()
    shown = client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"]
    assert (shown["flavor_id"], shown["provisioning_status"]) == (pair["id"], "ACTIVE")
    assert [x["id"] for x in client.get(LB_URL, params={"flavor_id": pair["id"]}).json()[
        "loadbalancers"]] == [lb["id"]]
    # the deployment default (SINGLE) still applies without a flavor
    plain = create_lb(client, subnet["id"])
    assert plain["flavor_id"] is None and roles_of(client, plain["id"]) == ["STANDALONE"]


def test_a_flavor_without_topology_keeps_the_deployment_default(
        tmp_path: Path, db: Database) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        subnet = vip_subnet(client)
        empty = flavor(client, profile(client, {})["id"], "empty")
        single = topology_flavor(client, "SINGLE", "single")
        assert roles_of(client, create_lb(client, subnet["id"], flavor_id=empty["id"])[
            "id"]) == ["BACKUP", "MASTER"]
        assert roles_of(client, create_lb(client, subnet["id"], flavor_id=single["id"])[
            "id"]) == ["STANDALONE"]


def test_lb_with_an_unknown_or_disabled_flavor_is_400(client: TestClient) -> None:
    subnet = vip_subnet(client)
    off = topology_flavor(client, "ACTIVE_STANDBY", "off", enabled=False)
    before = client.get("/networking/v2.0/ports").json()["ports"]
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "flavor_id": MISSING_UUID}})
    assert fault(resp, 400) == "Validation failure: Invalid flavor_id."
    resp = client.post(LB_URL, json={"loadbalancer": {"vip_subnet_id": subnet["id"],
                                                      "flavor_id": off["id"]}})
    assert fault(resp, 400) == \
        f"The selected flavor is not allowed in this deployment: {off['id']}"
    assert client.get(LB_URL).json()["loadbalancers"] == []
    assert client.get("/networking/v2.0/ports").json()["ports"] == before  # no VIP left
    # still listed and shown to users, as Octavia's docs say
    assert client.get(f"{FLAVOR_URL}/{off['id']}").json()["flavor"]["enabled"] is False


def test_lb_provider_comes_from_the_flavor_and_must_agree(client: TestClient) -> None:
    subnet = vip_subnet(client)
    fp = profile(client, {"loadbalancer_topology": "SINGLE"}, provider_name="octavia")
    alias = flavor(client, fp["id"], "alias")
    assert create_lb(client, subnet["id"], flavor_id=alias["id"])["provider"] == "octavia"
    assert create_lb(client, subnet["id"], flavor_id=alias["id"],
                     provider="octavia")["flavor_id"] == alias["id"]
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet["id"], "flavor_id": alias["id"], "provider": "amphora"}})
    assert fault(resp, 400) == \
        f"Flavor '{alias['id']}' is not compatible with provider 'amphora'"


def test_a_flavor_in_use_cannot_be_deleted(client: TestClient, worker: Worker) -> None:
    subnet = vip_subnet(client)
    used = topology_flavor(client, "ACTIVE_STANDBY", "used")
    lb = create_lb(client, subnet["id"], flavor_id=used["id"])
    worker.drain()
    url = f"{FLAVOR_URL}/{used['id']}"
    assert fault(client.delete(url), 409) == \
        f"Flavor {used['id']} is in use and cannot be modified."
    # disabling is allowed: existing load balancers keep running
    assert client.put(url, json={"flavor": {"enabled": False}}).status_code == 200
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204
    worker.drain()
    assert client.delete(url).status_code == 204


def test_single_call_tree_create_applies_the_flavor(client: TestClient) -> None:
    subnet = vip_subnet(client)
    pair = topology_flavor(client, "ACTIVE_STANDBY", "tree")
    lb = create_lb(client, subnet["id"], flavor_id=pair["id"], listeners=[
        {"protocol": "HTTP", "protocol_port": 80}])
    assert lb["flavor_id"] == pair["id"] and len(lb["listeners"]) == 1
    assert roles_of(client, lb["id"]) == ["BACKUP", "MASTER"]


# --- policy (keystone mode) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cloud, dict[str, Any]]]:
    with keystone_cloud(tmp_path_factory.mktemp("flavors")) as c:
        c.project("A")
        personas = {"member": c.persona("member", "A", "member"),
                    "reader": c.persona("reader", "A", "reader"),
                    "lb_admin": c.persona("lb_admin", "A", "load-balancer_admin")}
        fp = c.as_admin("POST", FP_URL, 201, json={"flavorprofile": {
            "name": "fp", "provider_name": "amphora", "flavor_data": "{}"}})["flavorprofile"]
        off = c.as_admin("POST", FLAVOR_URL, 201, json={"flavor": {
            "name": "off", "flavor_profile_id": fp["id"], "enabled": False}})["flavor"]
        yield c, {"personas": personas, "fp": fp, "off": off}


def test_users_read_flavors_but_only_admins_change_them(
        cloud: tuple[Cloud, dict[str, Any]]) -> None:
    c, ctx = cloud
    off = ctx["off"]
    for who in ("member", "reader"):
        headers = ctx["personas"][who]
        listed = c.client.get(FLAVOR_URL, headers=headers)
        assert listed.status_code == 200 and listed.json()["flavors"] == [off]
        assert c.client.get(f"{FLAVOR_URL}/{off['id']}", headers=headers).json() == {
            "flavor": off}
        for method, url in (("POST", FLAVOR_URL), ("PUT", f"{FLAVOR_URL}/{off['id']}"),
                            ("DELETE", f"{FLAVOR_URL}/{off['id']}")):
            body = {"flavor": {"name": "x", "flavor_profile_id": ctx["fp"]["id"]}}
            resp = c.client.request(method, url, headers=headers,
                                    json=body if method != "DELETE" else None)
            assert fault(resp, 403) == "Policy does not allow this request to be performed."


def test_profiles_and_capabilities_are_admin_only(
        cloud: tuple[Cloud, dict[str, Any]]) -> None:
    c, ctx = cloud
    fp = ctx["fp"]
    admin_only = (FP_URL, f"{FP_URL}/{fp['id']}", CAPS_URL,
                  f"{API}/providers/amphora/availability_zone_capabilities")
    for url in admin_only:
        for who in ("member", "reader"):
            resp = c.client.get(url, headers=ctx["personas"][who])
            assert fault(resp, 403) == "Policy does not allow this request to be performed."
        assert c.client.get(url, headers=ctx["personas"]["lb_admin"]).status_code == 200
        assert c.client.get(url, headers=c.admin()).status_code == 200
    resp = c.client.post(FP_URL, headers=ctx["personas"]["member"], json={"flavorprofile": {
        "name": "x", "provider_name": "amphora", "flavor_data": "{}"}})
    fault(resp, 403)
