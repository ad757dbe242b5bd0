"""The key manager's API against Barbican's behaviour: version discovery, secret shapes,
payload negotiation and 406, validation messages, lists with filters and paging,
containers, ACLs, consumers, Barbican's default policy and project isolation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from key_manager_helpers import (
    BARBICAN_SECRET_KEYS,
    BASE,
    KM,
    PERSONAS,
    KeyManager,
    b64,
    barbican_error,
    key_manager,
)
from test_postgres import Cluster, cluster  # noqa: F401 - fixture

__all__ = ["cluster"]


@pytest.fixture
def km(tmp_path: Path) -> Iterator[KeyManager]:
    with key_manager(tmp_path) as world:
        yield world


def uuid_of(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


# --- discovery ------------------------------------------------------------------------------

def test_version_discovery_as_barbican_answers_it(km: KeyManager) -> None:
    root = km.client.get("/key-manager")
    assert root.status_code == 300
    assert root.headers["OpenStack-API-Version"] == "key-manager 1.0"
    values = root.json()["versions"]["values"]
    assert [v["id"] for v in values] == ["v1"] and values[0]["status"] == "stable"
    newer = km.client.get("/key-manager/", headers={"OpenStack-API-Version":
                                                    "key-manager 1.1"})
    assert newer.status_code == 300
    [v1] = newer.json()["versions"]
    assert v1["status"] == "CURRENT" and (v1["min_version"], v1["max_version"]) == ("1.0",
                                                                                 "1.1")
    assert {"rel": "self", "href": f"{BASE}/v1/"} in v1["links"]
    versioned = km.client.get("/key-manager/v1/", headers={"OpenStack-API-Version":
                                                           "key-manager latest"})
    assert versioned.status_code == 200 and versioned.json() == {"version": v1}
    assert versioned.headers["OpenStack-API-Version"] == "key-manager 1.1"
    too_new = km.client.get("/key-manager/v1/", headers={"OpenStack-API-Version":
                                                         "key-manager 1.9"})
    barbican_error(too_new, 406)
    garbled = km.client.get("/key-manager/v1/", headers={"OpenStack-API-Version":
                                                         "key-manager one"})
    barbican_error(garbled, 400)


def test_unknown_paths_and_methods_in_barbicans_shape(km: KeyManager) -> None:
    barbican_error(km.call("a_member", "GET", "/orders"), 404)
    barbican_error(km.call("a_member", "PATCH", "/secrets"), 405)
    ref = km.store("a_member")
    barbican_error(km.call("a_member", "POST", ref), 405)
    barbican_error(km.call("a_member", "GET", ref + "/metadata/x"), 404)


# --- secrets: shapes and payloads -----------------------------------------------------------

def test_store_and_show_with_barbicans_keys(km: KeyManager) -> None:
    resp = km.call("a_member", "POST", "/secrets", json={
        "name": "  tls  ", "payload": "pem", "payload_content_type": "text/plain",
        "secret_type": "certificate", "algorithm": "aes", "bit_length": 256, "mode": "cbc"})
    assert resp.status_code == 201
    ref = resp.json()["secret_ref"]
    assert resp.headers["Location"] == ref and ref.startswith(f"{BASE}/v1/secrets/")
    shown = km.ok("a_member", "GET", ref)
    assert set(shown) <= BARBICAN_SECRET_KEYS
    assert shown["name"] == "tls" and shown["secret_type"] == "certificate"
    assert shown["content_types"] == {"default": "text/plain"}
    assert shown["creator_id"] == PERSONAS["a_member"][1]
    assert (shown["status"], shown["consumers"], shown["expiration"]) == ("ACTIVE", [], None)
    datetime.fromisoformat(shown["created"])
    old = km.call("a_member", "GET", ref, headers={"OpenStack-API-Version": ""}).json()
    assert "consumers" not in old  # microversion 1.0


def test_payload_negotiation_and_406(km: KeyManager) -> None:
    text = km.store("a_member", "hello wörld")
    binary = km.store("a_member", b64(b"\xff\x00\xfe"), payload_content_encoding="base64")
    assert km.payload("a_member", text).content == "hello wörld".encode()
    assert km.payload("a_member", text).headers["content-type"].startswith("text/plain")
    assert km.payload("a_member", text, "application/octet-stream").content == (
        "hello wörld".encode())
    assert km.payload("a_member", binary, "application/octet-stream").content == (
        b"\xff\x00\xfe")
    assert km.payload("a_member", binary, "*/*").headers["content-type"] == (
        "application/octet-stream")
    assert barbican_error(km.payload("a_member", binary, "text/plain"), 406) == (
        "Secret payload retrieval issue seen - Wrong payload content-type.")
    barbican_error(km.payload("a_member", text, "application/xml"), 406)
    # the deprecated read: any Accept but JSON on the secret itself
    legacy = km.call("a_member", "GET", binary, headers={"Accept": "application/octet-stream"})
    assert legacy.content == b"\xff\x00\xfe"
    assert barbican_error(km.call("a_member", "GET", binary, headers={"Accept": "text/plain"}),
                          406) == "Secret retrieval issue seen - Wrong payload content-type."
    assert km.ok("a_member", "GET", binary, headers={"Accept": "application/json"})["name"]


def test_payload_added_later_once(km: KeyManager) -> None:
    ref = km.ok("a_member", "POST", "/secrets", 201, json={"name": "later"})["secret_ref"]
    assert "content_types" not in km.ok("a_member", "GET", ref)
    assert barbican_error(km.payload("a_member", ref), 404) == (
        "Not Found. Sorry but your secret has no payload.")
    wrong = km.call("a_member", "PUT", ref, content=b"x",
                    headers={"Content-Type": "application/json"})
    assert "Unexpected content type" in (barbican_error(wrong, 415) or "")
    put = km.call("a_member", "PUT", ref, content=b64(b"\x01\x02").encode(),
                  headers={"Content-Type": "application/octet-stream",
                           "Content-Encoding": "base64"})
    assert put.status_code == 204
    assert km.payload("a_member", ref, "application/octet-stream").content == b"\x01\x02"
    again = km.call("a_member", "PUT", ref, content=b"new",
                    headers={"Content-Type": "text/plain"})
    assert barbican_error(again, 409) == "Secret already has data, cannot modify it."


def test_delete_and_ids(km: KeyManager) -> None:
    ref = km.store("a_member")
    assert km.call("a_member", "DELETE", ref).status_code == 204
    assert barbican_error(km.call("a_member", "GET", ref), 404) == "Secret not found."
    assert barbican_error(km.call("a_member", "GET", "/secrets/not-a-uuid"), 404) == (
        "Not Found. Provided secret id is invalid.")


def test_expired_secrets_are_gone(km: KeyManager) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    ref = km.store("a_member", expiration=soon)
    assert km.ok("a_member", "GET", ref)["expiration"]
    with km.db.write() as session:
        from nslb.model.secrets import Secret

        secret = session.get(Secret, uuid_of(ref))
        assert secret is not None
        secret.expiration = datetime(2000, 1, 1)
    barbican_error(km.call("a_member", "GET", ref), 404)
    assert km.ok("a_member", "GET", "/secrets")["total"] == 0


# --- validation -----------------------------------------------------------------------------

SCHEMA = "Provided object does not match schema 'Secret': "
INVALID_SECRETS = [
    ({"payload": "x"}, 400, SCHEMA + "If 'payload' is supplied, 'payload_content_type' must "
     "also be supplied.. Invalid property: 'payload_content_type'"),
    ({"payload": "x", "payload_content_type": "text/html"}, 400,
     SCHEMA + "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', "
     "'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. "
     "Invalid property: 'payload_content_type'"),
    ({"payload": "eA==", "payload_content_type": "text/plain",
      "payload_content_encoding": "base64"}, 400,
     SCHEMA + "payload_content_encoding is not one of None. Invalid property: "
     "'payload_content_encoding'"),
    ({"payload": "x", "payload_content_type": "application/octet-stream"}, 400,
     SCHEMA + "payload_content_encoding is not one of ['base64', 'binary']. Invalid property: "
     "'payload_content_encoding'"),
    ({"payload": "abc", "payload_content_type": "application/octet-stream",
      "payload_content_encoding": "base64"}, 400,
     SCHEMA + "Invalid payload for payload_content_encoding. Invalid property: 'payload'"),
    ({"payload": "   ", "payload_content_type": "text/plain"}, 400,
     SCHEMA + "If 'payload' specified, must be non empty. Invalid property: 'payload'"),
    ({"payload": "x" * 20001, "payload_content_type": "text/plain"}, 413,
     "Provided information too large to process"),
    ({"payload_content_type": "text/plain"}, 400,
     SCHEMA + "payload must be provided when payload_content_type is specified. Invalid "
     "property: 'payload'"),
    ({"secret_type": "x509"}, 400, SCHEMA + "'x509' is not one of ['symmetric', 'passphrase', "
     "'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'"),
    ({"bit_length": 0}, 400, SCHEMA + "0 is less than the minimum of 1. Invalid property: "
     "'bit_length'"),
    ({"bit_length": True}, 400, SCHEMA + "True is not of type 'integer'. Invalid property: "
     "'bit_length'"),
    ({"name": "n" * 256}, 400, SCHEMA + "'" + "n" * 63 + "... is too long. Invalid property: "
     "'name'"),
    ({"expiration": "yesterday"}, 400, SCHEMA + "Invalid date for 'expiration'. Invalid "
     "property: 'expiration'"),
    ({"expiration": "2001-01-01T00:00:00Z"}, 400, SCHEMA + "'expiration' is before current "
     "time. Invalid property: 'expiration'"),
    ([{"payload": "x"}], 400, SCHEMA + "The array given is not of type 'object'. Invalid "
     "property: 'None'"),
]


@pytest.mark.parametrize(("body", "status", "message"), INVALID_SECRETS)
def test_secret_validation_messages(km: KeyManager, body: object, status: int,
                                    message: str) -> None:
    resp = km.call("a_member", "POST", "/secrets/", json=body)
    assert barbican_error(resp, status) == message


def test_payload_is_never_repeated_in_a_validation_error(km: KeyManager) -> None:
    resp = km.call("a_member", "POST", "/secrets", json={"payload": {"pin": 4711}})
    text = barbican_error(resp, 400) or ""
    assert "4711" not in text and "The payload is not of type 'string'" in text


def test_bodies_barbican_refuses_before_validating(km: KeyManager) -> None:
    form = km.call("a_member", "POST", "/secrets", content=b"name=x",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert barbican_error(form, 415) == ("Unexpected content type. Expected content types "
                                         "are: ['application/json']")
    bad = km.call("a_member", "POST", "/secrets", content=b"{nope",
                  headers={"Content-Type": "application/json"})
    assert barbican_error(bad, 400) == "Malformed JSON"
    huge = km.call("a_member", "POST", "/secrets", content=b" " * 25001 + b"{}",
                   headers={"Content-Type": "application/json"})
    barbican_error(huge, 413)


# --- lists ----------------------------------------------------------------------------------

def test_list_paging_with_barbicans_hrefs(km: KeyManager) -> None:
    for i in range(5):
        km.store("a_member", name=f"s{i}", secret_type="passphrase" if i % 2 else "opaque")
    km.store("b_member", name="theirs")
    page = km.ok("a_member", "GET", "/secrets?limit=2&offset=2&secret_type=opaque")
    assert page["total"] == 3 and [s["name"] for s in page["secrets"]] == ["s4"]
    assert page["previous"] == f"{BASE}/v1/secrets?limit=2&offset=0&secret_type=opaque"
    assert "next" not in page
    first = km.ok("a_member", "GET", "/secrets?limit=2")
    assert first["next"] == f"{BASE}/v1/secrets?limit=2&offset=2" and "previous" not in first
    assert all(set(s) <= BARBICAN_SECRET_KEYS for s in first["secrets"])
    everything = km.ok("a_member", "GET", "/secrets?limit=1000&offset=-5")
    assert everything["total"] == 5 and len(everything["secrets"]) == 5
    assert km.ok("a_member", "GET", "/secrets?limit=0")["secrets"][0]["name"] == "s0"
    empty = km.ok("a_member", "GET", "/secrets?name=none")
    assert empty == {"secrets": [], "total": 0}


def test_list_filters_and_sort(km: KeyManager) -> None:
    km.store("a_member", name="web-cert", algorithm="rsa", bit_length=2048)
    km.store("a_member", name="web key", mode="gcm")
    km.store("a_member", name="db")
    names = lambda q: [s["name"] for s in km.ok("a_member", "GET", "/secrets" + q)["secrets"]]  # noqa: E731
    assert names("?name=web-cert") == ["web-cert"]
    assert names("?name=web%2Bkey") == ["web key"]  # unquote_plus, as Barbican does
    assert names("?name=web%25&sort=name:desc") == ["web-cert", "web key"]
    assert names("?alg=rsa&bits=2048") == ["web-cert"]
    assert names("?bits=nonsense") == ["web-cert", "web key", "db"]
    assert names("?mode=gcm") == ["web key"]
    assert names("?sort=name") == ["db", "web key", "web-cert"]
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert names(f"?created=lt:{later}") == ["web-cert", "web key", "db"]
    assert names(f"?created=gt:{later}") == []
    for bad in ("?created=gt:x", "?created=gt:2020-01-01,gte:2020-01-01",
                "?updated=2020-01-01,lte:2021-01-01", "?sort=payload", "?sort=name:up",
                "?sort=name,name"):
        assert barbican_error(km.call("a_member", "GET", "/secrets" + bad), 400) == (
            "URI provided invalid query string parameters.")


def test_acl_only_lists_what_the_user_was_granted(km: KeyManager) -> None:
    ref = km.store("a_member", name="shared")
    km.store("a_member", name="private")
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": ["ub-member"]}})
    granted = km.ok("b_member", "GET", "/secrets?acl_only=true")
    assert [s["name"] for s in granted["secrets"]] == ["shared"]
    assert km.ok("b_member", "GET", "/secrets")["total"] == 0


# --- containers -----------------------------------------------------------------------------

def test_certificate_container(km: KeyManager) -> None:
    cert, key = km.store("a_member", name="cert"), km.store("a_member", name="key")
    created = km.call("a_member", "POST", "/containers/", json={
        "name": "tls", "type": "certificate",
        "secret_refs": [{"name": "certificate", "secret_ref": cert},
                        {"name": "private_key", "secret_ref": key}]})
    assert created.status_code == 201
    ref = created.json()["container_ref"]
    assert created.headers["Location"] == ref and ref.startswith(f"{BASE}/v1/containers/")
    shown = km.ok("a_member", "GET", ref)
    assert shown == {**shown, "name": "tls", "type": "certificate", "status": "ACTIVE",
                     "consumers": [], "container_ref": ref,
                     "creator_id": PERSONAS["a_member"][1],
                     "secret_refs": [{"name": "certificate", "secret_ref": cert},
                                     {"name": "private_key", "secret_ref": key}]}
    listed = km.ok("a_member", "GET", "/containers?type=certificate")
    assert listed["total"] == 1 and listed["containers"][0] == shown
    assert km.ok("a_member", "GET", "/containers?type=generic")["total"] == 0
    assert km.call("a_member", "DELETE", ref).status_code == 204
    assert barbican_error(km.call("a_member", "GET", ref), 404) == "Secrets container not found."
    assert km.ok("a_member", "GET", cert)["name"] == "cert"  # secrets stay


CONTAINER = "Provided object does not match schema 'Container': "


def test_container_validation(km: KeyManager) -> None:
    cert, other = km.store("a_member"), km.store("a_member")
    theirs = km.store("b_member")
    cases = [
        ({"certificate": cert, "private": other}, "certificate",
         CONTAINER + "only 'private_key', 'certificate' , 'private_key_passphrase',  or "
         "'intermediates' reference names are allowed for Certificate type. Invalid "
         "property: 'secret_refs'"),
        ({"private_key": cert}, "certificate",
         CONTAINER + "The minimum required reference name is 'certificate' for Certificate "
         "type. Invalid property: 'secret_refs'"),
        ({"certificate": cert.replace("testserver", "evil.example")}, "certificate",
         "Provided field value is not supported"),
        ({"public_key": cert}, "rsa",
         CONTAINER + "The minimum required reference names are 'public_key' and'private_key' "
         "for RSA type. Invalid property: 'secret_refs'"),
    ]
    for refs, kind, message in cases:
        assert barbican_error(km.call("a_member", "POST", "/containers", json={
            "type": kind, "secret_refs": [{"name": n, "secret_ref": r}
                                          for n, r in refs.items()]}), 400) == message
    dup = km.call("a_member", "POST", "/containers", json={"type": "generic", "secret_refs": [
        {"name": "a", "secret_ref": cert}, {"name": "b", "secret_ref": cert}]})
    assert "Duplicate secret ids are not allowed" in (barbican_error(dup, 400) or "")
    missing = km.call("a_member", "POST", "/containers", json={"name": "x"})
    assert barbican_error(missing, 400) == (CONTAINER + "'type' is a required property. "
                                            "Invalid property: 'None'")
    foreign = km.container("a_member", {"certificate": theirs}, status=404)
    assert foreign["description"] == "Secret provided for 'certificate' doesn't exist."


def test_generic_container_secrets_added_and_removed(km: KeyManager) -> None:
    one, two = km.store("a_member"), km.store("a_member")
    ref = km.container("a_member", {"one": one}, kind="generic")["container_ref"]
    km.ok("a_member", "POST", ref + "/secrets", 201, json={"name": "two", "secret_ref": two})
    km.ok("a_member", "POST", ref + "/secrets", 201, json={"name": "again", "secret_ref": two})
    conflict = km.call("a_member", "POST", ref + "/secrets",
                       json={"name": "two", "secret_ref": two})
    assert "already stored in this container" in (barbican_error(conflict, 409) or "")
    names = [r["name"] for r in km.ok("a_member", "GET", ref)["secret_refs"]]
    assert names == ["one", "two", "again"]
    removed = km.call("a_member", "DELETE", ref + "/secrets",
                      json={"name": "two", "secret_ref": two})
    assert removed.status_code == 204
    assert [r["name"] for r in km.ok("a_member", "GET", ref)["secret_refs"]] == ["one",
                                                                                  "again"]
    cert = km.container("a_member", {"certificate": one})["container_ref"]
    frozen = km.call("a_member", "POST", cert + "/secrets", json={"secret_ref": two})
    assert barbican_error(frozen, 400) == "Only 'generic' containers can be modified."


# --- ACLs -----------------------------------------------------------------------------------

def test_acl_put_patch_delete(km: KeyManager) -> None:
    ref = km.store("a_member")
    assert km.ok("a_member", "GET", ref + "/acl") == {"read": {"project-access": True}}
    put = km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": ["u1", "u2"],
                                                                "project-access": False}})
    assert put == {"acl_ref": ref + "/acl"}
    acl = km.ok("a_member", "GET", ref + "/acl")["read"]
    assert (acl["project-access"], acl["users"]) == (False, ["u1", "u2"])
    assert set(acl) == {"project-access", "users", "created", "updated"}
    km.ok("a_member", "PATCH", ref + "/acl", json={"read": {"project-access": True}})
    acl = km.ok("a_member", "GET", ref + "/acl")["read"]
    assert (acl["project-access"], acl["users"]) == (True, ["u1", "u2"])
    km.ok("a_member", "PATCH", ref + "/acl", json={"read": {"users": ["u3"]}})
    assert km.ok("a_member", "GET", ref + "/acl")["read"]["users"] == ["u3"]
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": []}})
    acl = km.ok("a_member", "GET", ref + "/acl")["read"]
    assert (acl["project-access"], acl["users"]) == (True, [])
    assert km.call("a_member", "DELETE", ref + "/acl").status_code == 200
    assert km.ok("a_member", "GET", ref + "/acl") == {"read": {"project-access": True}}
    bad = km.call("a_member", "PUT", ref + "/acl", json={"write": {"users": []}})
    assert "Additional properties are not allowed" in (barbican_error(bad, 400) or "")
    bad = km.call("a_member", "PUT", ref + "/acl", json={"read": {"users": "u1"}})
    assert "is not of type 'array'" in (barbican_error(bad, 400) or "")


def test_container_acl(km: KeyManager) -> None:
    ref = km.container("a_member", {"certificate": km.store("a_member")})["container_ref"]
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": ["ub-member"]}})
    assert km.ok("a_member", "GET", ref + "/acl")["read"]["users"] == ["ub-member"]
    assert km.ok("b_member", "GET", ref)["container_ref"] == ref  # read through the ACL


# --- policy ---------------------------------------------------------------------------------

DENIED = " attempt not allowed - please review your user/project privileges"


def test_roles_as_barbicans_default_policy(km: KeyManager) -> None:
    ref = km.store("a_member")
    for who in ("a_reader", "a_lb"):
        assert barbican_error(km.call(who, "GET", "/secrets"), 403) == (
            "Secret(s) retrieval" + DENIED)
        assert barbican_error(km.call(who, "POST", "/secrets", json={}), 403) == (
            "Secret creation" + DENIED)
        assert barbican_error(km.call(who, "GET", ref), 403) == "Secret retrieval" + DENIED
        assert barbican_error(km.payload(who, ref), 403) == "Secret payload retrieval" + DENIED
        barbican_error(km.call(who, "DELETE", ref), 403)
    assert km.payload("a_member2", ref).status_code == 200  # project access by default
    assert km.payload("a_admin", ref).status_code == 200


def test_private_secret(km: KeyManager) -> None:
    ref = km.store("a_member")
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"project-access": False,
                                                          "users": ["ua-reader"]}})
    assert km.payload("a_member", ref).status_code == 200  # the creator
    assert km.payload("a_admin", ref).status_code == 200  # a project admin
    assert km.payload("a_reader", ref).status_code == 200  # a user of the ACL
    assert barbican_error(km.payload("a_member2", ref), 403) == (
        "Secret payload retrieval" + DENIED)
    barbican_error(km.call("a_member2", "DELETE", ref), 403)
    barbican_error(km.call("a_member2", "GET", ref + "/acl"), 403)
    barbican_error(km.call("a_reader", "DELETE", ref), 403)


def test_other_projects_objects_answer_as_missing(km: KeyManager) -> None:
    ref = km.store("a_member")
    cont = km.container("a_member", {"certificate": ref})["container_ref"]
    for method, url in (("GET", ref), ("GET", ref + "/payload"), ("DELETE", ref),
                        ("PUT", ref), ("GET", ref + "/acl"), ("PUT", ref + "/acl"),
                        ("GET", ref + "/consumers")):
        assert barbican_error(km.call("b_member", method, url, json={}), 404) == (
            "Secret not found.")
    for method, url in (("GET", cont), ("DELETE", cont), ("GET", cont + "/acl")):
        assert barbican_error(km.call("b_member", method, url), 404) == (
            "Secrets container not found.")
    assert km.ok("b_member", "GET", "/containers")["total"] == 0


def test_an_acl_user_of_another_project_reads_but_does_not_manage(km: KeyManager) -> None:
    ref = km.store("a_member", "shared-value")
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": ["ub-member"]}})
    assert km.ok("b_member", "GET", ref)["secret_ref"] == ref
    assert km.payload("b_member", ref).content == b"shared-value"
    assert barbican_error(km.call("b_member", "DELETE", ref), 403) == (
        "Secret deletion" + DENIED)
    barbican_error(km.call("b_member", "GET", ref + "/acl"), 403)
    barbican_error(km.call("b_member", "PUT", ref + "/acl", json={"read": {"users": []}}), 403)
    barbican_error(km.payload("b_reader", ref), 404)


def test_an_admin_elsewhere_sees_metadata_but_not_payloads(km: KeyManager) -> None:
    """Barbican's secret:get and secret:delete admit role:admin in any project;
    secret:decrypt wants an admin of the secret's project."""
    ref = km.store("a_member")
    assert km.ok("b_admin", "GET", ref)["secret_ref"] == ref
    barbican_error(km.payload("b_admin", ref), 403)
    assert km.call("b_admin", "DELETE", ref).status_code == 204


# --- consumers ------------------------------------------------------------------------------

def test_secret_consumers(km: KeyManager) -> None:
    ref = km.store("a_member")
    consumer = {"service": "octavia", "resource_type": "listener", "resource_id": "l1"}
    added = km.ok("a_member", "POST", ref + "/consumers", json=consumer)
    assert added["consumers"] == [consumer]
    assert km.ok("a_member", "POST", ref + "/consumers", json=consumer)["consumers"] == [
        consumer]
    listed = km.ok("a_member", "GET", ref + "/consumers")
    assert listed["total"] == 1 and listed["consumers"][0]["resource_id"] == "l1"
    assert km.ok("a_member", "GET", ref)["consumers"] == [consumer]
    gone = km.ok("a_member", "DELETE", ref + "/consumers", json=consumer)
    assert gone["consumers"] == []
    again = km.call("a_member", "DELETE", ref + "/consumers", json=consumer)
    assert barbican_error(again, 404) == "Consumer not found."
    missing = km.call("a_member", "POST", ref + "/consumers", json={"service": "x"})
    assert "'resource_type' is a required property" in (barbican_error(missing, 400) or "")


def test_secret_delete_takes_its_consumers_and_acl(km: KeyManager) -> None:
    ref = km.store("a_member")
    km.ok("a_member", "POST", ref + "/consumers", json={
        "service": "s", "resource_type": "t", "resource_id": "r"})
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": ["u"]}})
    assert km.call("a_member", "DELETE", ref).status_code == 204
    from sqlalchemy import func, select

    from nslb.db.tables import km_acl_user, km_secret_consumer, km_secret_payload

    with km.db.read() as session:
        for table in (km_acl_user, km_secret_consumer, km_secret_payload):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_urls_with_and_without_the_trailing_slash(km: KeyManager) -> None:
    ref = km.store("a_member")
    assert km.call("a_member", "GET", ref + "/").status_code == 200
    assert km.call("a_member", "GET", "/secrets/").status_code == 200
    assert km.call("a_member", "GET", "http://testserver" + KM + "//secrets").status_code == 200


# --- PostgreSQL -----------------------------------------------------------------------------

ON_POSTGRES = (test_store_and_show_with_barbicans_keys, test_payload_negotiation_and_406,
               test_payload_added_later_once, test_list_paging_with_barbicans_hrefs,
               test_list_filters_and_sort, test_acl_only_lists_what_the_user_was_granted,
               test_certificate_container, test_generic_container_secrets_added_and_removed,
               test_acl_put_patch_delete, test_private_secret,
               test_other_projects_objects_answer_as_missing, test_secret_consumers,
               test_secret_delete_takes_its_consumers_and_acl)


@pytest.mark.postgres
def test_on_postgresql(cluster: Cluster, tmp_path: Path) -> None:
    """The same behaviour on PostgreSQL (LIKE, date comparisons, bytea, constraints)."""
    for i, test in enumerate(ON_POSTGRES):
        state = tmp_path / str(i)
        state.mkdir()
        with key_manager(state, cluster.url(cluster.create_database())) as world:
            test(world)
