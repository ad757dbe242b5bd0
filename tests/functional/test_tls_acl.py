"""The load balancer service's place on a secret's read ACL follows the use of the secret:
added when a listener or pool of the project starts to name it (as Octavia does), taken
off when the last one stops naming it (deleted, or pointed at another ref), never while
another listener or pool of the project still names it, and never touching the other
users of the ACL. Checked through the key manager's API, in the shape `openstack acl get`
reads."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from nslb.secrets.policy import Caller
from nslb.secrets.store import SecretStore
from nslb.worker.loop import Worker
from tests.functional.octavia_helpers import (
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_lb,
    create_lb,
    vip_subnet,
)
from tests.tls_material import Authority, store_container, store_secret

CA = Authority("acl test CA")
WWW = CA.server("www.example.com")
SHOP = CA.server("shop.example.com")
SERVICE = "octavia"


@pytest.fixture
def lb_id(client: TestClient, worker: Worker) -> str:
    return str(active_lb(client, worker)["id"])


def acl(client: TestClient, ref: str) -> dict[str, Any]:
    """`openstack acl get <ref>`: the read ACL as the key manager returns it."""
    resp = client.get(f"{ref.replace('http://testserver', '')}/acl")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def readers(client: TestClient, ref: str) -> list[str]:
    users: list[str] = acl(client, ref)["read"].get("users", [])
    return users


def https(client: TestClient, worker: Worker, lb: str, port: int, **attrs: Any) -> str:
    resp = client.post(LISTENER_URL, json={"listener": {
        "protocol": "TERMINATED_HTTPS", "protocol_port": port, "loadbalancer_id": lb,
        **attrs}})
    assert resp.status_code == 201, resp.text
    worker.drain()
    return str(resp.json()["listener"]["id"])


def call(client: TestClient, worker: Worker, method: str, url: str,
         body: dict[str, Any] | None = None) -> None:
    resp = client.request(method, url, json=body)
    assert resp.status_code in (200, 202, 204), resp.text
    worker.drain()


def test_a_shared_secret_stays_readable_until_its_last_listener_is_gone(
        client: TestClient, worker: Worker, lb_id: str) -> None:
    ref = store_secret(client, WWW.pkcs12(), "www")
    first = https(client, worker, lb_id, 443, default_tls_container_ref=ref)
    second = https(client, worker, lb_id, 8443, default_tls_container_ref=ref)
    assert readers(client, ref) == [SERVICE]
    call(client, worker, "DELETE", f"{LISTENER_URL}/{first}")
    assert readers(client, ref) == [SERVICE]  # the second listener still serves it
    call(client, worker, "DELETE", f"{LISTENER_URL}/{second}")
    read = acl(client, ref)["read"]
    assert read["users"] == [] and read["project-access"] is True


def test_a_changed_ref_releases_the_old_secret_and_keeps_other_users(
        client: TestClient, worker: Worker, lb_id: str) -> None:
    old = store_secret(client, WWW.pkcs12(), "old")
    new = store_secret(client, WWW.pkcs12(), "new")
    # `openstack acl user add --user alice-id <old>`: another reader, not nslb's business
    resp = client.patch(f"{old.replace('http://testserver', '')}/acl",
                        json={"read": {"users": ["alice-id"]}})
    assert resp.status_code == 200, resp.text
    listener = https(client, worker, lb_id, 443, default_tls_container_ref=old)
    assert sorted(readers(client, old)) == ["alice-id", SERVICE]
    call(client, worker, "PUT", f"{LISTENER_URL}/{listener}",
         {"listener": {"default_tls_container_ref": new}})
    assert readers(client, old) == ["alice-id"]
    assert readers(client, new) == [SERVICE]


def test_a_certificate_container_and_its_secrets_are_released_together(
        client: TestClient, worker: Worker, lb_id: str) -> None:
    default = store_secret(client, WWW.pkcs12(), "www")
    sni = store_container(client, SHOP, "shop")
    secrets = [s["secret_ref"] for s in client.get(
        sni.replace("http://testserver", "")).json()["secret_refs"]]
    listener = https(client, worker, lb_id, 443, default_tls_container_ref=default,
                     sni_container_refs=[sni])
    assert all(readers(client, r) == [SERVICE] for r in [sni, *secrets])
    call(client, worker, "PUT", f"{LISTENER_URL}/{listener}",
         {"listener": {"sni_container_refs": []}})
    assert all(readers(client, r) == [] for r in [sni, *secrets])
    assert readers(client, default) == [SERVICE]


def test_a_pool_releases_its_ca_on_change_and_everything_on_delete(
        client: TestClient, worker: Worker, lb_id: str) -> None:
    lb_client = store_container(client, CA.client("the-lb"), "lb-client")
    ca, successor = (store_secret(client, CA.pem, n) for n in ("ca", "ca-2"))
    crl = store_secret(client, CA.crl(), "crl")
    resp = client.post(POOL_URL, json={"pool": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "tls_container_ref": lb_client, "ca_tls_container_ref": ca,
        "crl_container_ref": crl}})
    assert resp.status_code == 201, resp.text
    pool = resp.json()["pool"]["id"]
    worker.drain()
    assert all(readers(client, r) == [SERVICE] for r in (lb_client, ca, crl))
    call(client, worker, "PUT", f"{POOL_URL}/{pool}", {"pool": {
        "ca_tls_container_ref": successor, "crl_container_ref": None}})
    assert readers(client, ca) == [] and readers(client, crl) == []
    assert readers(client, successor) == [SERVICE]
    call(client, worker, "DELETE", f"{POOL_URL}/{pool}")
    assert readers(client, successor) == [] and readers(client, lb_client) == []


def test_a_cascade_delete_releases_what_the_tree_used(client: TestClient,
                                                      worker: Worker) -> None:
    ref = store_secret(client, WWW.pkcs12(), "www")
    ca = store_secret(client, CA.pem, "members")
    lb = create_lb(client, vip_subnet(client)["id"], listeners=[{
        "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": ref,
        "default_pool": {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                         "tls_enabled": True, "ca_tls_container_ref": ca}}])
    worker.drain()
    assert readers(client, ref) == [SERVICE] and readers(client, ca) == [SERVICE]
    # another LB of the project keeps the certificate in use
    other = active_lb(client, worker)["id"]
    https(client, worker, other, 443, default_tls_container_ref=ref)
    call(client, worker, "DELETE", f"{LB_URL}/{lb['id']}?cascade=true")
    assert readers(client, ref) == [SERVICE] and readers(client, ca) == []


def test_a_release_between_grant_and_write_cannot_strand_a_new_listener(
        client: TestClient, worker: Worker, lb_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request's release may run after this request granted the service (before
    its write transaction) and before its listener exists: the write transaction holds
    the grant again, so the listener's certificate stays readable and it goes ACTIVE."""
    granted = SecretStore.grant

    def grant_then_lose_it(self: SecretStore, ref: str, caller: Caller) -> None:
        granted(self, ref, caller)
        self.revoke(ref, caller)  # what a concurrent delete's release does

    monkeypatch.setattr(SecretStore, "grant", grant_then_lose_it)
    ref = store_secret(client, WWW.pkcs12(), "www")
    listener = https(client, worker, lb_id, 443, default_tls_container_ref=ref)
    assert readers(client, ref) == [SERVICE]
    resp = client.get(f"{LISTENER_URL}/{listener}")
    assert resp.json()["listener"]["provisioning_status"] == "ACTIVE"
