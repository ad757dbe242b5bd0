"""TLS fields of listeners and pools through the real app: both certificate forms, Octavia's
defaults and messages, what HAProxy would refuse answered 400 at the API, refs that cannot be
read (missing, another project's, unreadable), the service's read ACL, and what the worker
renders from the key manager's material."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.model import tls as tls_model
from nslb.worker.loop import Worker
from tests.functional.conftest import OTHER_PROJECT
from tests.functional.octavia_helpers import (
    LISTENER_URL,
    POOL_URL,
    active_lb,
    fault,
    listener,
    pool,
    prov,
)
from tests.tls_material import Authority, store_container, store_secret

CA = Authority("nslb test CA")
WWW = CA.server("www.example.com")
API_CERT = CA.server("api.example.com", "api2.example.com")
ALICE = CA.client("alice")


@pytest.fixture
def lb_id(client: TestClient, worker: Worker) -> str:
    return str(active_lb(client, worker)["id"])


def https(client: TestClient, lb: str, status: int = 201, **attrs: Any) -> Any:
    resp = client.post(LISTENER_URL, json={"listener": {
        "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "loadbalancer_id": lb, **attrs}})
    if status != 201:
        return fault(resp, status)
    assert resp.status_code == 201, resp.text
    return resp.json()["listener"]


def config(driver: NoopDriver) -> tuple[str, dict[str, str]]:
    """haproxy.cfg and the TLS files of the one applied bundle."""
    (bundle,) = driver.applied.values()
    files = {name: text for name, text in bundle.files.items() if name.startswith("tls/")}
    return bundle.files["haproxy.cfg"], files


def test_pkcs12_default_and_container_sni_with_octavia_defaults(
        client: TestClient, worker: Worker, driver: NoopDriver, lb_id: str) -> None:
    default = store_secret(client, WWW.pkcs12([CA.root.cert]), "www")
    sni = store_container(client, API_CERT, "api")
    body = https(client, lb_id, default_tls_container_ref=default, sni_container_refs=[sni],
                 insert_headers={"X-Forwarded-Proto": "true", "X-SSL-Client-CN": "true"})
    assert body["default_tls_container_ref"] == default
    assert body["sni_container_refs"] == [sni]
    assert body["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert body["tls_ciphers"] == tls_model.DEFAULT_CIPHERS
    assert body["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert body["client_authentication"] == "NONE"
    worker.drain()
    assert prov(listener(client, body["id"])) == "ACTIVE"
    text, files = config(driver)
    bind = next(line for line in text.splitlines() if " ssl crt-list " in line)
    assert "ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3" in bind and "alpn h2,http/1.1" in bind
    certs = sorted(name for name in files if name.endswith(".crt.pem"))
    assert [n.rsplit("/", 1)[1] for n in certs] == ["default.crt.pem", "sni-0.crt.pem"]
    crt_list = next(v for k, v in files.items() if k.endswith(".crt-list")).splitlines()
    assert crt_list[0].endswith("/default.crt.pem") and crt_list[1].endswith("/sni-0.crt.pem")
    default_file = next(v for k, v in files.items() if k.endswith("default.crt.pem"))
    # certificate, key, then the chain from the PKCS12 bundle
    assert default_file.startswith(WWW.cert_pem.decode())
    assert "PRIVATE KEY" in default_file and CA.pem.decode() in default_file


def test_refs_that_cannot_be_read_are_octavia_400s(client: TestClient, lb_id: str) -> None:
    missing = "http://testserver/key-manager/v1/secrets/8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
    assert https(client, lb_id, 400, default_tls_container_ref=missing) == \
        f"Could not retrieve certificate: ['{missing}']"
    other = client.post("/key-manager/v1/secrets", headers={"X-Project-Id": OTHER_PROJECT},
                        json={"name": "x", "payload": "eA==", "payload_content_encoding": "base64",
                              "payload_content_type": "application/octet-stream"})
    theirs = other.json()["secret_ref"]
    assert https(client, lb_id, 400, default_tls_container_ref=theirs) == \
        f"Could not retrieve certificate: ['{theirs}']"
    garbage = store_secret(client, b"not a pkcs12 bundle")
    assert https(client, lb_id, 400, default_tls_container_ref=garbage).startswith(
        "The PKCS12 bundle is unreadable.")
    assert client.get(LISTENER_URL).json()["listeners"] == []


def test_reading_grants_the_load_balancer_service(client: TestClient, lb_id: str) -> None:
    ref = store_secret(client, WWW.pkcs12())
    https(client, lb_id, default_tls_container_ref=ref)
    acl = client.get(f"{ref}/acl".replace("http://testserver", "")).json()
    assert acl["read"]["users"] == ["octavia"]


@pytest.mark.parametrize(("attrs", "message"), [
    ({"tls_ciphers": "NOT-A-CIPHER"}, "OpenSSL selects no cipher from the cipher string"),
    ({"tls_ciphers": "ECDHE'RSA"}, "Invalid characters in cipher string."),
    ({"tls_versions": ["TLSv1", "TLSv1.2"]}, "TLS versions must form one range"),
    ({"tls_versions": ["TLSv1.1", "TLSv1.2"]},
     "no cipher of the cipher string works with TLSv1.1"),
    ({"tls_versions": ["TLSv9"]}, "Invalid TLS versions: TLSv9"),
    ({"tls_versions": []}, "Empty TLS version list."),
    ({"client_authentication": "MANDATORY"},
     "Client authentication setting MANDATORY requires a client CA container reference."),
])
def test_what_haproxy_would_refuse_is_a_400(client: TestClient, lb_id: str,
                                            attrs: dict[str, Any], message: str) -> None:
    ref = store_secret(client, WWW.pkcs12())
    assert message in https(client, lb_id, 400, default_tls_container_ref=ref, **attrs)


def test_old_versions_are_really_enabled(client: TestClient, worker: Worker,
                                         driver: NoopDriver, lb_id: str) -> None:
    """HAProxy 2.6 starts at TLSv1.2: asking for TLSv1.1 renders ssl-min-ver TLSv1.1 (not
    no-tlsv1x flags) and the security level OpenSSL 3 needs for it."""
    ref = store_secret(client, WWW.pkcs12())
    ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256"
    https(client, lb_id, default_tls_container_ref=ref, tls_versions=["TLSv1.1", "TLSv1.2"],
          tls_ciphers=ciphers)
    worker.drain()
    text, _ = config(driver)
    assert f"ciphers {ciphers}:@SECLEVEL=0 ssl-min-ver TLSv1.1 ssl-max-ver TLSv1.2" in text


def test_client_ca_and_crl(client: TestClient, worker: Worker, driver: NoopDriver,
                           lb_id: str) -> None:
    ref = store_secret(client, WWW.pkcs12())
    ca = store_secret(client, CA.pem)
    crl = store_secret(client, CA.crl(ALICE))
    assert https(client, lb_id, 400, default_tls_container_ref=ref,
                 client_crl_container_ref=crl).endswith(
        "A client authentication CA reference is required to specify a client "
        "authentication revocation list.")
    foreign = store_secret(client, Authority("other CA").crl())
    assert https(client, lb_id, 400, default_tls_container_ref=ref,
                 client_ca_tls_container_ref=ca, client_crl_container_ref=foreign) == \
        ("Validation failure: The CRL specified is not valid for client certificate "
         "authority reference supplied.")
    body = https(client, lb_id, default_tls_container_ref=ref, client_ca_tls_container_ref=ca,
                 client_crl_container_ref=crl, client_authentication="OPTIONAL")
    worker.drain()
    text, files = config(driver)
    assert "verify optional crl-file " in text
    assert sorted(n.rsplit("/", 1)[1] for n in files) == [
        "certs.crt-list", "client.ca.pem", "client.crl.pem", "default.crt.pem"]
    assert body["client_authentication"] == "OPTIONAL"


def test_hsts(client: TestClient, worker: Worker, driver: NoopDriver, lb_id: str) -> None:
    ref = store_secret(client, WWW.pkcs12())
    assert "only make sense if hsts_max_age" in https(
        client, lb_id, 400, default_tls_container_ref=ref, hsts_preload=True)
    http = client.post(LISTENER_URL, json={"listener": {
        "protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": lb_id, "hsts_max_age": 5}})
    assert fault(http, 400).endswith("The HSTS feature can only be used for listeners using "
                                     "the TERMINATED_HTTPS protocol.")
    https(client, lb_id, default_tls_container_ref=ref, hsts_max_age=31536000,
          hsts_include_subdomains=True, hsts_preload=True)
    worker.drain()
    text, _ = config(driver)
    assert 'Strict-Transport-Security "max-age=31536000; includeSubDomains; preload;"' in text


def test_update_to_an_unreadable_ref_changes_nothing(client: TestClient, worker: Worker,
                                                     lb_id: str) -> None:
    ref = store_secret(client, WWW.pkcs12())
    body = https(client, lb_id, default_tls_container_ref=ref)
    worker.drain()
    missing = ref.rsplit("/", 1)[0] + "/8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
    resp = client.put(f"{LISTENER_URL}/{body['id']}",
                      json={"listener": {"default_tls_container_ref": missing}})
    assert fault(resp, 400) == f"Could not retrieve certificate: ['{missing}']"
    shown = listener(client, body["id"])
    assert shown["default_tls_container_ref"] == ref and prov(shown) == "ACTIVE"


def test_pool_reencryption(client: TestClient, worker: Worker, driver: NoopDriver,
                           lb_id: str) -> None:
    ca = store_secret(client, CA.pem)
    cert = store_container(client, CA.client("lb"), "lb-client")
    crl = store_secret(client, CA.crl())
    assert fault(client.post(POOL_URL, json={"pool": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "crl_container_ref": crl}}), 400).endswith(
        "A CA certificate reference is required to specify a revocation list.")
    resp = client.post(POOL_URL, json={"pool": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, "ca_tls_container_ref": ca, "crl_container_ref": crl,
        "tls_container_ref": cert}})
    assert resp.status_code == 201, resp.text
    created = resp.json()["pool"]
    assert created["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    worker.drain()
    client.post(f"{POOL_URL}/{created['id']}/members",
                json={"member": {"address": "10.0.0.9", "protocol_port": 443}})
    worker.drain()
    client.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {
        "pool_id": created["id"], "type": "HTTPS", "delay": 5, "timeout": 3,
        "max_retries": 2}})
    worker.drain()
    assert prov(pool(client, created["id"])) == "ACTIVE"
    text, files = config(driver)
    server = next(line for line in text.splitlines() if line.strip().startswith("server "))
    assert " ssl crt " in server and "verify required" in server and " crl-file " in server
    # the HTTPS check uses the pool's TLS (its certificate and CA), not `verify none`
    assert " check-ssl check-alpn h2,http/1.1,http/1.0 " in server
    assert "verify none" not in server
    assert sorted(n.rsplit("/", 1)[1] for n in files) == [
        "client.crt.pem", "members.ca.pem", "members.crl.pem"]
