"""Hand-built TLS snapshots for the golden-file tests: TERMINATED_HTTPS listeners (default
and SNI certificates, client authentication NONE/OPTIONAL/MANDATORY with CA and CRL,
versions down to TLSv1.0, ciphers, ALPN, HSTS, X-SSL-Client-* headers) and re-encrypting
pools (client certificate, CA, CRL, versions, ciphers, ALPN, HTTPS health checks).

haproxy.cfg names the TLS files by slot, never by content, so the golden text does not
depend on the certificates; the material here is real (made by tests/tls_material.py) so
that `haproxy -c` loads every file the golden config names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache

from nslb.model import tls
from nslb.model.resources import HealthMonitor, Listener, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.tls import ListenerTls, PoolTls
from nslb.tls import certs
from tests.tls_material import Authority
from tests.unit import render_cases as rc

SECOND_LISTENER = "22222223-2222-4222-8222-222222222223"
THIRD_LISTENER = "22222224-2222-4222-8222-222222222224"
SECOND_POOL = "33333334-3333-4333-8333-333333333334"
SSL_HEADERS = {header: "true" for header in tls.SSL_HEADERS}
REF = "https://nslb.example/key-manager/v1/secrets/{}"


def ref(n: int) -> str:
    """A well-formed key-manager ref: haproxy.cfg never names it (files go by slot)."""
    return REF.format(f"0000000{n}-0000-4000-8000-00000000000{n}")


@dataclasses.dataclass(frozen=True)
class Material:
    """One set of real certificates, made once per test session."""

    www: str
    shop: str
    api: str
    clients_ca: str
    clients_crl: str
    members_ca: str
    members_crl: str
    lb_client: str


@cache
def material() -> Material:
    servers, clients, members = Authority("servers"), Authority("clients"), Authority("members")
    revoked = clients.client("revoked")

    def bundle(issued: object) -> str:
        return certs.from_pkcs12(issued.pkcs12([servers.root.cert])).pem  # type: ignore[attr-defined]

    clients_pem = certs.ca_file(clients.pem)
    members_pem = certs.ca_file(members.pem)
    return Material(
        www=bundle(servers.server("www.example.com")),
        shop=bundle(servers.server("shop.example.com", "*.shop.example.com")),
        api=bundle(servers.server("api.example.com")),
        clients_ca=clients_pem,
        clients_crl=certs.crl_file(clients.crl(revoked), clients_pem),
        members_ca=members_pem,
        members_crl=certs.crl_file(members.crl(), members_pem),
        lb_client=certs.from_pkcs12(clients.client("the-lb").pkcs12()).pem,
    )


def _terminated(listener_id: str, port: int, pool_id: str | None = rc.POOL_ID,
                **kw: object) -> Listener:
    fields: dict[str, object] = {"tls_ciphers": tls.DEFAULT_CIPHERS,
                                 "tls_versions": list(tls.DEFAULT_TLS_VERSIONS),
                                 "alpn_protocols": list(tls.DEFAULT_ALPN), **kw}
    return Listener(id=listener_id, loadbalancer_id=rc.LB_ID, protocol="TERMINATED_HTTPS",
                    protocol_port=port, default_pool_id=pool_id,
                    default_tls_container_ref=ref(1), **fields)  # type: ignore[arg-type]


def tls_terminated() -> LoadBalancerSnapshot:
    """Three TERMINATED_HTTPS listeners on one LB:
    - 443: default + two SNI certificates, client authentication MANDATORY with CA and
      CRL, Octavia's defaults (TLSv1.2-1.3, its cipher list, h2/http/1.1/http/1.0), HSTS
      with every option, every X-SSL-Client-* header and X-Forwarded-*;
    - 8443: OPTIONAL with a CA and no CRL, TLSv1.0-1.1 really enabled (ssl-min-ver, and
      @SECLEVEL=0 for OpenSSL 3), CBC ciphers, ALPN http/1.1 only, HSTS max-age alone;
    - 9443: NONE, TLSv1.3 only, ALPN h2 only, no HSTS, no pool (yet)."""
    m = material()
    strict = _terminated(rc.LISTENER_ID, 443, sni_container_refs=[ref(2), ref(3)],
                         client_ca_tls_container_ref=ref(4), client_authentication="MANDATORY",
                         client_crl_container_ref=ref(5), hsts_max_age=31536000,
                         hsts_include_subdomains=True, hsts_preload=True,
                         insert_headers={**SSL_HEADERS, "X-Forwarded-For": "true",
                                         "X-Forwarded-Port": "true",
                                         "X-Forwarded-Proto": "true"})
    legacy = _terminated(SECOND_LISTENER, 8443, SECOND_POOL,
                         client_ca_tls_container_ref=ref(4), client_authentication="OPTIONAL",
                         tls_versions=["TLSv1", "TLSv1.1"],
                         tls_ciphers="ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA",
                         alpn_protocols=["http/1.1"], hsts_max_age=0,
                         insert_headers={"X-SSL-Client-Verify": "true",
                                         "X-SSL-Client-Has-Cert": "true"})
    modern = _terminated(THIRD_LISTENER, 9443, None, tls_versions=["TLSv1.3"],
                         alpn_protocols=["h2"], client_authentication="NONE")
    second = Pool(id=SECOND_POOL, loadbalancer_id=rc.LB_ID, protocol="HTTP")
    snap = rc.snapshot(listeners=(strict, legacy, modern), pools=(rc.pool(), second),
                       members=rc.members())
    return dataclasses.replace(snap, tls={
        strict.id: ListenerTls(default=m.www, sni=(m.shop, m.api), client_ca=m.clients_ca,
                               client_crl=m.clients_crl),
        legacy.id: ListenerTls(default=m.www, client_ca=m.clients_ca),
        modern.id: ListenerTls(default=m.api),
    })


def tls_reencrypt() -> LoadBalancerSnapshot:
    """Two re-encrypting pools behind HTTP and TERMINATED_HTTPS listeners:
    - the first with a client certificate, a CA and its CRL (verify required), TLSv1.2
      only, its own ciphers and ALPN list, and an HTTPS health check using them
      (check-ssl, check-alpn);
    - the second without refs (verify none, as in Octavia), TLSv1.1-1.3, Octavia's ALPN
      list, an HTTPS health check, behind a TERMINATED_HTTPS listener that passes the
      client's SNI on."""
    m = material()
    verified = rc.pool(tls_enabled=True, tls_container_ref=ref(6), ca_tls_container_ref=ref(7),
                       crl_container_ref=ref(8), tls_versions=["TLSv1.2"],
                       tls_ciphers="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
                       alpn_protocols=["h2", "http/1.1"])
    unverified = Pool(id=SECOND_POOL, loadbalancer_id=rc.LB_ID, protocol="HTTP",
                      tls_enabled=True, tls_versions=["TLSv1.1", "TLSv1.2", "TLSv1.3"],
                      tls_ciphers="ECDHE-ECDSA-AES128-SHA:" + tls.DEFAULT_CIPHERS,
                      alpn_protocols=list(tls.DEFAULT_ALPN))
    front = rc.listener(insert_headers={"X-Forwarded-Proto": "true"})
    terminated = _terminated(SECOND_LISTENER, 443, SECOND_POOL,
                             insert_headers={"X-Forwarded-Proto": "true"})
    checks = (rc.monitor("HTTPS", url_path="/healthz", expected_codes="200", http_version=1.1,
                         domain_name="members.example.com"),
              HealthMonitor(id="44444445-4444-4444-8444-444444444445",
                            loadbalancer_id=rc.LB_ID, pool_id=SECOND_POOL, type="HTTPS",
                            url_path="/"))
    second_members = tuple(dataclasses.replace(mb, id=f"6666666{n + 3}-6666-4666-8666-"
                                               f"66666666666{n + 3}", pool_id=SECOND_POOL,
                                               protocol_port=8443)
                           for n, mb in enumerate(rc.members()))
    snap = rc.snapshot(listeners=(front, terminated), pools=(verified, unverified),
                       members=(*rc.members(), *second_members), monitors=checks)
    return dataclasses.replace(snap, tls={
        verified.id: PoolTls(certificate=m.lb_client, ca=m.members_ca, crl=m.members_crl),
        unverified.id: PoolTls(),
        terminated.id: ListenerTls(default=m.www),
    })


TLS_CASES: dict[str, Callable[[], LoadBalancerSnapshot]] = {
    "tls_terminated": tls_terminated,
    "tls_reencrypt": tls_reencrypt,
}
