"""TLS through a real `nslb serve`, checked with real handshakes from a client namespace;
every certificate is made here with `cryptography` and stored through the key manager API.

- TERMINATED_HTTPS: the default certificate (a PKCS12 secret) and an SNI one (a legacy
  certificate container) each served for their names; HSTS and X-Forwarded-Proto; client
  authentication with no certificate, one of another CA, a revoked one and a good one;
  SSL_CONN_HAS_CERT and SSL_DN_FIELD L7 rules deciding on the client certificate; a new CRL
  and then a new client CA taking effect without a reload; MANDATORY refusing a client
  without a certificate.
- Re-encryption: members serving HTTPS that require the pool's client certificate, checked
  against the pool's CA; a CA that did not sign them makes them unusable (503).
- Rotation: new default certificates under continuous HTTPS traffic, applied by haproxy's
  runtime API: the master and its worker are the same processes, no reload happened, the
  new certificate is served and written to disk, and no request failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nslb.amphora import runtime_api
from tests.integration.api_env import LISTENERS, POOLS, Api, Served, served
from tests.integration.conftest import HERE, PREFIX, Lab, sh
from tests.tls_material import Authority, Issued, store_container, store_secret

PHYSNET = "physnet-tls"
CIDR = "10.201.0.0/24"
BACKENDS = ["10.201.0.21", "10.201.0.22"]
CLIENT = "10.201.0.50"
L7P = "/v2/lbaas/l7policies"


@pytest.fixture(scope="module")
def env() -> Iterator[Served]:
    with served(CIDR, "10.201.0.100", "10.201.0.199", tag=f"{PREFIX}tlsm",
                physnet=PHYSNET) as module:
        yield module


def pem_file(directory: Path, name: str, *parts: bytes) -> str:
    path = directory / name
    path.write_bytes(b"".join(parts))
    return str(path)


def client_pem(directory: Path, name: str, issued: Issued) -> str:
    return pem_file(directory, f"{name}.pem", issued.cert_pem, issued.key_pem)


def probe(ns: str, address: str, sni: str, ca: str, path: str = "/",
          client: str | None = None) -> dict[str, Any]:
    out = sh("ip", "netns", "exec", ns, sys.executable, str(HERE / "tls_probe.py"), "once",
             address, sni, ca, path, *([client] if client else []))
    result: dict[str, Any] = json.loads(out)
    return result


def body_of(result: dict[str, Any]) -> dict[str, Any]:
    assert result.get("status") == 200, result
    answer: dict[str, Any] = json.loads(result["body"])
    return answer


def https_lb(subnet: str, member: str, **listener: Any) -> dict[str, Any]:
    return {"name": "tls", "vip_subnet_id": subnet, "listeners": [{
        "name": "https", "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_pool": {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                         "members": [{"address": member, "protocol_port": 8080}]},
        **listener}]}


def master_and_workers(api: Api, lb_id: str) -> tuple[int, list[int], int]:
    """(master pid, worker pids, reloads so far) from the master CLI's `show proc`."""
    answer = runtime_api.command(api.amphora_dir(lb_id) / "master.sock", "show proc")
    master = next(line for line in answer.splitlines() if " master " in f" {line} ")
    return int(master.split()[0]), runtime_api.worker_pids(answer), int(master.split()[2])


def test_sni_client_auth_hsts_and_certificate_rules(env: Served, hosts: Lab,
                                                     tmp_path: Path) -> None:
    api = env.api
    servers, clients, other = Authority("servers"), Authority("clients"), Authority("other")
    alice, mallory, eve = clients.client("alice"), clients.client("mallory"), other.client("eve")
    www = servers.server("www.example.com")
    shop = servers.server("shop.example.com", "shop2.example.com")
    hosts.serve(hosts.host("be1", [f"{BACKENDS[0]}/24"]), "be1", 8080)
    cl = hosts.host("cl", [f"{CLIENT}/24"])
    ca = pem_file(tmp_path, "servers.pem", servers.pem)
    good, revoked, foreign = (client_pem(tmp_path, n, i)
                              for n, i in (("alice", alice), ("mallory", mallory), ("eve", eve)))
    crl = store_secret(api.http, clients.crl(mallory), "crl")
    lb = api.create_lb(https_lb(
        env.subnet, BACKENDS[0],
        default_tls_container_ref=store_secret(api.http, www.pkcs12([servers.root.cert])),
        sni_container_refs=[store_container(api.http, shop, "shop")],
        client_ca_tls_container_ref=store_secret(api.http, clients.pem, "clients"),
        client_crl_container_ref=crl, client_authentication="OPTIONAL",
        hsts_max_age=300, hsts_include_subdomains=True,
        insert_headers={"X-Forwarded-Proto": "true", "X-SSL-Client-CN": "true",
                        "X-SSL-Client-Verify": "true"}))
    lb_id, vip = lb["id"], lb["vip_address"]
    listener = api.listener_id(lb_id)

    # the default certificate, and the SNI one for each of its names
    plain = probe(cl, vip, "www.example.com", ca)
    assert plain["cn"] == "www.example.com"
    assert plain["headers"]["strict-transport-security"] == "max-age=300; includeSubDomains;"
    headers = body_of(plain)["headers"]
    assert headers["x-forwarded-proto"] == "https" and headers["x-ssl-client-verify"] == "0"
    assert probe(cl, vip, "shop.example.com", ca)["cn"] == "shop.example.com"
    assert probe(cl, vip, "shop2.example.com", ca)["cn"] == "shop.example.com"

    # OPTIONAL: no certificate passes, a good one is passed on, bad and revoked ones fail
    assert body_of(probe(cl, vip, "www.example.com", ca, client=good))["headers"][
        "x-ssl-client-cn"] == "alice"
    assert "error" in probe(cl, vip, "www.example.com", ca, client=foreign)
    assert "error" in probe(cl, vip, "www.example.com", ca, client=revoked)

    # L7 rules on the client certificate
    for policy in (
        {"action": "REJECT", "rules": [
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/secure"},
            {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "True",
             "invert": True}]},
        {"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/alice",
         "rules": [{"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "key": "CN",
                    "value": "alice"}]},
    ):
        api.change(lb_id, "POST", L7P, {"l7policy": {"listener_id": listener, **policy}})
    assert probe(cl, vip, "www.example.com", ca, "/secure/x")["status"] == 403
    redirected = probe(cl, vip, "www.example.com", ca, "/secure/x", client=good)
    assert redirected["status"] == 302
    assert redirected["headers"]["location"] == "https://example.com/alice"

    # a new CRL revoking alice too: through the runtime API, no reload
    before = master_and_workers(api, lb_id)
    api.change(lb_id, "PUT", f"{LISTENERS}/{listener}", {"listener": {
        "client_crl_container_ref": store_secret(api.http, clients.crl(mallory, alice))}})
    assert "error" in probe(cl, vip, "www.example.com", ca, client=good)
    assert master_and_workers(api, lb_id) == before
    # a new client CA with its CRL: both files through the runtime API too
    successor = Authority("clients-2")
    api.change(lb_id, "PUT", f"{LISTENERS}/{listener}", {"listener": {
        "client_ca_tls_container_ref": store_secret(api.http, successor.pem),
        "client_crl_container_ref": store_secret(api.http, successor.crl())}})
    bob = client_pem(tmp_path, "bob", successor.client("bob"))
    assert body_of(probe(cl, vip, "www.example.com", ca, client=bob))["headers"][
        "x-ssl-client-cn"] == "bob"
    assert master_and_workers(api, lb_id) == before

    # MANDATORY: a client without a certificate cannot complete the exchange
    api.change(lb_id, "PUT", f"{LISTENERS}/{listener}",
               {"listener": {"client_authentication": "MANDATORY"}})
    assert "error" in probe(cl, vip, "www.example.com", ca)


def test_reencryption_presents_the_pool_certificate_and_verifies_members(
        env: Served, hosts: Lab, tmp_path: Path) -> None:
    api = env.api
    members, lb_clients, other = Authority("members"), Authority("lb-clients"), Authority("x")
    member = members.server_ip(BACKENDS[1])
    ns = hosts.host("be2", [f"{BACKENDS[1]}/24"])
    hosts.serve(ns, "be2", 8443, client_pem(tmp_path, "member", member),
          pem_file(tmp_path, "lb-clients.pem", lb_clients.pem))
    cl = hosts.host("cl", [f"{CLIENT}/24"])
    lb = api.create_lb({"name": "reencrypt", "vip_subnet_id": env.subnet, "listeners": [{
        "name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "tls-members", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True,
            "ca_tls_container_ref": store_secret(api.http, members.pem, "members"),
            "crl_container_ref": store_secret(api.http, members.crl(), "members-crl"),
            "tls_container_ref": store_container(api.http, lb_clients.client("the-lb"), "lbc"),
            "members": [{"address": BACKENDS[1], "protocol_port": 8443}]}}]})
    url = f"http://{lb['vip_address']}:80/"
    (answer,) = hosts.probe(cl, url)
    assert answer["name"] == "be2" and answer["client_cn"] == "the-lb"
    # a CA that did not sign the member: haproxy refuses to talk to it
    api.change(lb["id"], "PUT", f"{POOLS}/{api.pool_id(lb['id'])}", {"pool": {
        "crl_container_ref": None,
        "ca_tls_container_ref": store_secret(api.http, other.pem, "other")}})
    # (haproxy retries the handshake before it answers)
    assert hosts.probe(cl, url, timeout=30)[0].get("error") == "status 503"


def test_rotation_uses_the_runtime_api_and_loses_no_request(env: Served, hosts: Lab,
                                                            tmp_path: Path) -> None:
    api = env.api
    servers = Authority("rotation")
    hosts.serve(hosts.host("be1", [f"{BACKENDS[0]}/24"]), "be1", 8080)
    cl = hosts.host("cl", [f"{CLIENT}/24"])
    ca = pem_file(tmp_path, "rotation.pem", servers.pem)
    first = servers.server("www.example.com", cn="generation-0")
    lb = api.create_lb(https_lb(env.subnet, BACKENDS[0],
                                default_tls_container_ref=store_secret(api.http, first.pkcs12())))
    lb_id, vip = lb["id"], lb["vip_address"]
    listener = api.listener_id(lb_id)
    before = master_and_workers(api, lb_id)
    stop = tmp_path / "stop"
    loop = hosts.track(subprocess.Popen(
        ["ip", "netns", "exec", cl, sys.executable, str(HERE / "tls_probe.py"), "loop", vip,
         "www.example.com", ca, str(stop)], stdout=subprocess.PIPE, text=True))
    try:
        for n in range(1, 4):
            new = servers.server("www.example.com", cn=f"generation-{n}")
            api.change(lb_id, "PUT", f"{LISTENERS}/{listener}", {"listener": {
                "default_tls_container_ref": store_secret(api.http, new.pkcs12())}})
            assert probe(cl, vip, "www.example.com", ca)["cn"] == f"generation-{n}"
            on_disk = next(api.amphora_dir(lb_id).glob("tls/*/default.crt.pem")).read_text()
            assert on_disk.startswith(new.cert_pem.decode())
    finally:
        stop.touch()
        out, _ = loop.communicate(timeout=60)
    result = json.loads(out)
    assert result["errors"] == [] and result["ok"] > 0
    assert set(result["cns"]) <= {f"generation-{n}" for n in range(4)}
    assert "generation-3" in result["cns"]
    assert master_and_workers(api, lb_id) == before
