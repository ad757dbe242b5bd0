"""The key manager against a second project and a reader of the disk and the logs.

- another project cannot read a payload: by id (payload URL and the deprecated Accept
  read), through a container of its own or of the owner, through ACL changes of its own
  making, or through the load balancer's read path (store.fetch);
- payloads never reach a log line, an error message or the database file in clear, the
  key files are the owner's only, and a sealed payload moved to another row or project
  no longer opens;
- rotation keeps every payload readable and retires old keys.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from nslb.cli.main import app as cli
from nslb.db.tables import km_secret, km_secret_payload
from nslb.secrets import crypto
from nslb.secrets.policy import Caller
from nslb.secrets.store import LOAD_BALANCER_USER, RefUnavailable, SecretStore
from tests.functional.key_manager_helpers import (
    PERSONAS,
    KeyManager,
    b64,
    barbican_error,
    key_manager,
)
from tests.functional.keystone_helpers import keystone_cloud

pytestmark = pytest.mark.security

SECRET = "PLAINTEXT-cafe-7f3a9-do-not-leak"
STRANGERS = ("b_member", "b_reader", "b_admin")


@pytest.fixture
def km(tmp_path: Path) -> Iterator[KeyManager]:
    with key_manager(tmp_path) as world:
        yield world


def caller(who: str) -> Caller:
    project, user, roles = PERSONAS[who]
    return Caller.of(project, user, frozenset(roles))


def store_of(km: KeyManager) -> SecretStore:
    return SecretStore.open(km.db, km.state)


def assert_no_secret(resp: object) -> None:
    content: bytes = getattr(resp, "content", b"")
    assert SECRET.encode() not in content


# --- another project ------------------------------------------------------------------------

def test_another_project_cannot_read_a_payload_by_id(km: KeyManager) -> None:
    ref = km.store("a_member", SECRET)
    for who in STRANGERS:
        for accept in ("text/plain", "application/octet-stream", "*/*", ""):
            for url in (ref + "/payload", ref, ref + "/", ref.upper()):
                resp = km.call(who, "GET", url, headers={"Accept": accept})
                assert resp.status_code in (200, 403, 404), resp.text
                assert_no_secret(resp)
                if resp.status_code == 200:  # Barbican shows an admin the metadata only
                    assert who == "b_admin" and resp.json()["secret_ref"] == ref


def test_another_project_cannot_read_through_containers(km: KeyManager) -> None:
    ref = km.store("a_member", SECRET)
    own = km.store("b_member", "b's own")
    # B cannot put A's secret into a container of its own, under any spelling of the ref
    for spelled in (ref, ref + "/", ref.replace("/v1/", "/v1//")):
        resp = km.container("b_member", {"certificate": spelled, "private_key": own},
                            status=404)
        assert resp["description"] == "Secret provided for 'certificate' doesn't exist."
    generic = km.container("b_member", {"mine": own}, kind="generic")["container_ref"]
    barbican_error(km.call("b_member", "POST", generic + "/secrets",
                           json={"name": "x", "secret_ref": ref}), 404)
    # A shares a container with B: B sees the references, never the secret behind them
    cont = km.container("a_member", {"certificate": ref})["container_ref"]
    km.ok("a_member", "PUT", cont + "/acl", json={"read": {"users": ["ub-member"]}})
    assert km.ok("b_member", "GET", cont)["secret_refs"][0]["secret_ref"] == ref
    resp = km.payload("b_member", ref)
    assert resp.status_code == 404
    assert_no_secret(resp)
    with pytest.raises(RefUnavailable):
        store_of(km).fetch_container(cont, PERSONAS["b_member"][0])


def test_acl_tricks_of_another_project(km: KeyManager) -> None:
    ref = km.store("a_member", SECRET)
    cont = km.container("a_member", {"certificate": ref})["container_ref"]
    me = {"read": {"users": ["ub-member"], "project-access": True}}
    for method in ("PUT", "PATCH"):
        for url in (ref + "/acl", cont + "/acl"):
            barbican_error(km.call("b_member", method, url, json=me), 404)
            # an admin elsewhere sees a secret's metadata (Barbican's secret:get), no more
            refused = km.call("b_admin", method, url, json=me)
            barbican_error(refused, 403 if url.startswith(ref) else 404)
    assert km.ok("a_member", "GET", ref + "/acl") == {"read": {"project-access": True}}
    barbican_error(km.call("b_member", "DELETE", ref + "/acl"), 404)
    assert km.ok("b_member", "GET", "/secrets?acl_only=true")["total"] == 0
    # an ACL of A's for one user lets exactly that user read, not its project
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"users": ["ub-reader"],
                                                          "project-access": False}})
    assert km.payload("b_reader", ref).content == SECRET.encode()
    assert_no_secret(km.payload("b_member", ref))
    assert_no_secret(km.payload("a_member2", ref))  # private to its creator now
    # the grantee cannot widen the grant
    barbican_error(km.call("b_reader", "PUT", ref + "/acl",
                           json={"read": {"users": ["ub-reader", "ub-member"]}}), 403)


def test_the_load_balancer_reads_only_its_own_projects_refs(km: KeyManager) -> None:
    store = store_of(km)
    a, b = PERSONAS["a_member"][0], PERSONAS["b_member"][0]
    ref = km.store("a_member", SECRET)
    assert store.fetch(ref, a) == SECRET.encode()
    # another host name for the same ref reads the same; another project never does
    assert store.fetch(ref.replace("testserver", "other.example"), a) == SECRET.encode()
    with pytest.raises(RefUnavailable) as caught:
        store.fetch(ref, b)
    assert SECRET not in str(caught.value)
    # not even after A granted the service access: the grant is A's, for A's load balancers
    store.grant(ref, caller("a_member"))
    assert LOAD_BALANCER_USER in km.ok("a_member", "GET", ref + "/acl")["read"]["users"]
    with pytest.raises(RefUnavailable):
        store.fetch(ref, b)
    # B cannot grant itself anything on A's ref, nor can A's reader
    for who in ("b_member", "b_admin", "a_reader"):
        with pytest.raises(RefUnavailable):
            store.grant(ref, caller(who))
    for bad in ("", "not a ref", ref.replace("/secrets/", "/orders/"), ref[:-4],
                ref.replace("/secrets/", "/containers/")):
        with pytest.raises(RefUnavailable):
            store.fetch(bad, a)


def test_a_private_secret_needs_the_grant(km: KeyManager) -> None:
    store, a = store_of(km), PERSONAS["a_member"][0]
    ref = km.store("a_member", SECRET)
    km.ok("a_member", "PUT", ref + "/acl", json={"read": {"project-access": False}})
    with pytest.raises(RefUnavailable):
        store.fetch(ref, a)
    with pytest.raises(RefUnavailable):  # only who manages the ACL may grant
        store.grant(ref, caller("a_member2"))
    store.grant(ref, caller("a_member"))
    assert store.fetch(ref, a) == SECRET.encode()
    store.revoke(ref, caller("a_member"))
    with pytest.raises(RefUnavailable):
        store.fetch(ref, a)


def test_legacy_certificate_container_is_read_whole(km: KeyManager) -> None:
    store, a = store_of(km), PERSONAS["a_member"][0]
    cert, key = km.store("a_member", "CERT"), km.store("a_member", SECRET)
    cont = km.container("a_member", {"certificate": cert, "private_key": key})["container_ref"]
    assert store.kind(cont) == "containers"
    assert store.fetch_container(cont, a) == {"certificate": b"CERT",
                                              "private_key": SECRET.encode()}
    km.ok("a_member", "PUT", key + "/acl", json={"read": {"project-access": False}})
    with pytest.raises(RefUnavailable):  # one unreadable secret spoils the container
        store.fetch_container(cont, a)
    store.grant(cont, caller("a_member"))  # grants the container and its secrets
    assert store.fetch_container(cont, a)["private_key"] == SECRET.encode()


# --- logs, errors and the disk --------------------------------------------------------------

def test_payloads_never_reach_logs_or_errors(km: KeyManager,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ref = km.store("a_member", SECRET)
    km.store("a_member", b64(SECRET.encode()), payload_content_encoding="base64")
    km.payload("a_member", ref)
    km.payload("a_member", ref, "application/xml")  # 406
    km.call("b_member", "GET", ref + "/payload")  # 404
    for body in ({"payload": SECRET}, {"payload": SECRET, "payload_content_type": "x/y"},
                 {"payload": SECRET * 2000, "payload_content_type": "text/plain"},
                 {"payload": [SECRET]}, {"payload": {SECRET: SECRET}}):
        resp = km.call("a_member", "POST", "/secrets", json=body)
        assert resp.status_code in (400, 413)
        assert_no_secret(resp)
    put = km.call("a_member", "PUT", ref, content=SECRET.encode(),
                  headers={"Content-Type": "text/plain"})
    assert put.status_code == 409 and SECRET not in put.text
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert caplog.records and SECRET not in logged and b64(SECRET.encode()) not in logged


def test_an_internal_failure_says_nothing(km: KeyManager,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """A payload whose key is gone: Barbican's 500 wording, nothing of the cause."""
    ref = km.store("a_member", SECRET)
    with km.db.write() as session:
        session.execute(update(km_secret_payload).values(key_id=999))
    caplog.set_level(logging.DEBUG)
    resp = km.payload("a_member", ref)
    assert barbican_error(resp, 500) == ("Secret payload retrieval failure seen - please "
                                         "contact site administrator.")
    assert SECRET not in "\n".join(r.getMessage() for r in caplog.records)


def test_payloads_are_sealed_at_rest(km: KeyManager) -> None:
    km.store("a_member", SECRET)
    km.store("a_member", b64(SECRET.encode() * 3), payload_content_encoding="base64")
    with km.db.read() as session:
        rows = session.execute(select(km_secret_payload.c.ciphertext)).scalars().all()
    assert len(rows) == 2 and all(SECRET.encode() not in row for row in rows)
    km.db.dispose()  # let SQLite fold the WAL back; read every file it keeps
    files = list(km.state.glob("nslb.db*"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert SECRET.encode() not in data and b64(SECRET.encode()).encode() not in data
    keys = km.state / "secret-keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for key in keys.iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_sealed_payload_does_not_open_elsewhere(km: KeyManager) -> None:
    """Ciphertext is bound to its secret id and project: copying it onto B's secret, or
    moving A's row into B's project, does not hand the payload to B."""
    ref = km.store("a_member", SECRET)
    theirs = km.store("b_member", "b's own")
    a_id, b_id = ref.rsplit("/", 1)[1], theirs.rsplit("/", 1)[1]
    with km.db.write() as session:
        sealed = session.scalar(select(km_secret_payload.c.ciphertext)
                                .where(km_secret_payload.c.secret_id == a_id))
        session.execute(update(km_secret_payload).where(km_secret_payload.c.secret_id == b_id)
                        .values(ciphertext=sealed))
    resp = km.payload("b_member", theirs)
    assert resp.status_code == 500 and SECRET not in resp.text
    with km.db.write() as session:
        session.execute(update(km_secret).where(km_secret.c.id == a_id)
                        .values(project_id=PERSONAS["b_member"][0]))
    resp = km.payload("b_member", ref)
    assert resp.status_code == 500 and SECRET not in resp.text
    with pytest.raises(RefUnavailable):
        store_of(km).fetch(ref, PERSONAS["b_member"][0])


def test_rotation_keeps_payloads_readable(km: KeyManager) -> None:
    refs = [km.store("a_member", f"{SECRET}-{i}") for i in range(3)]
    keys = km.state / "secret-keys"
    for round_ in range(3):
        result = CliRunner().invoke(cli, ["rotate-keys", "--secrets", "--state-dir",
                                          str(km.state)])
        assert result.exit_code == 0, result.output
        assert f"{3 + round_} payloads re-encrypted" in result.output
        assert SECRET not in result.output
        refs.append(km.store("a_member", f"{SECRET}-new-{round_}"))
        for i, ref in enumerate(refs):
            want = f"{SECRET}-{i}" if i < 3 else f"{SECRET}-new-{i - 3}"
            assert km.payload("a_member", ref).content == want.encode()
    # the first key left once nothing used it; primary and the one before stay
    assert crypto.key_ids(keys) == [3, 4]
    with km.db.read() as session:
        assert set(session.scalars(select(km_secret_payload.c.key_id))) <= {3, 4}


# --- keystone mode --------------------------------------------------------------------------

def test_real_tokens_and_projects(tmp_path: Path) -> None:
    with keystone_cloud(tmp_path) as cloud:
        for name in ("p1", "p2"):
            cloud.project(name)
        u1 = cloud.persona("u1", "p1", "member")
        u2 = cloud.persona("u2", "p2", "member")
        token = cloud.client.get("/identity/v3/auth/tokens", headers={
            **cloud.admin(), "X-Subject-Token": u1["X-Auth-Token"]}).json()["token"]
        [service] = [s for s in token["catalog"] if s["type"] == "key-manager"]
        assert {(e["interface"], e["url"]) for e in service["endpoints"]} == {
            (i, "http://testserver/key-manager") for i in ("public", "internal", "admin")}
        url = "/key-manager/v1/secrets"
        none = cloud.client.get(url)
        assert none.status_code == 401 and set(none.json()) == {"error"}
        assert none.headers["WWW-Authenticate"].startswith("Keystone")
        bad = cloud.client.get(url, headers={"X-Auth-Token": "gAAAAAforged"})
        assert bad.status_code == 401
        created = cloud.client.post(url, headers=u1, json={
            "payload": SECRET, "payload_content_type": "text/plain"})
        assert created.status_code == 201
        ref = created.json()["secret_ref"]
        mine = cloud.client.get(ref + "/payload", headers={**u1, "Accept": "text/plain"})
        assert mine.text == SECRET
        theirs = cloud.client.get(ref + "/payload", headers={**u2, "Accept": "text/plain"})
        assert theirs.status_code == 404 and SECRET not in theirs.text
        admin = cloud.client.get(ref + "/payload", headers={**cloud.admin(),
                                                            "Accept": "text/plain"})
        assert admin.status_code == 403 and SECRET not in admin.text
        assert cloud.client.get(url, headers=u2).json()["total"] == 0
        meta = cloud.client.get(ref, headers=u1).json()
        assert meta["creator_id"] == cloud.users["u1"]
