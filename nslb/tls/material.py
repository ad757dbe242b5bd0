"""Key-manager refs -> the PEM material HAProxy loads, through the key manager's internal
API (nslb.secrets.store). The API calls this to refuse what cannot be served; the worker
calls it before every render, so the snapshot holds what the key manager holds now.

A secret ref names a PKCS12 bundle (Octavia's `barbican` cert manager); a container ref a
legacy certificate container. CA and CRL refs name secrets holding PEM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from nslb.model.resources import Listener, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.tls import ListenerTls, PoolTls
from nslb.secrets.store import RefUnavailable, SecretStore
from nslb.tls import certs

T = TypeVar("T")


def certificate(store: SecretStore, ref: str, project_id: str) -> certs.ServerCertificate:
    """The certificate `ref` names, as one PEM bundle. Raises RefUnavailable or
    certs.CertificateError."""
    if store.kind(ref) == "secrets":
        return certs.from_pkcs12(store.fetch(ref, project_id))
    return certs.from_container(store.fetch_container(ref, project_id))


def ca(store: SecretStore, ref: str, project_id: str,
       what: str = "client authentication CA certificate") -> str:
    return certs.ca_file(store.fetch(ref, project_id), what)


def crl(store: SecretStore, ref: str, ca_pem: str, project_id: str) -> str:
    return certs.crl_file(store.fetch(ref, project_id), ca_pem)


def for_listener(store: SecretStore, listener: Listener, project_id: str) -> ListenerTls:
    default = (certificate(store, listener.default_tls_container_ref, project_id).pem
               if listener.default_tls_container_ref else None)
    sni = tuple(certificate(store, ref, project_id).pem for ref in listener.sni_container_refs)
    client_ca = client_crl = None
    if listener.client_ca_tls_container_ref:
        client_ca = ca(store, listener.client_ca_tls_container_ref, project_id)
        if listener.client_crl_container_ref:
            client_crl = crl(store, listener.client_crl_container_ref, client_ca, project_id)
    return ListenerTls(default=default, sni=sni, client_ca=client_ca, client_crl=client_crl)


def for_pool(store: SecretStore, pool: Pool, project_id: str) -> PoolTls:
    cert = (certificate(store, pool.tls_container_ref, project_id).pem
            if pool.tls_container_ref else None)
    ca_pem = pool_crl = None
    if pool.ca_tls_container_ref:
        ca_pem = ca(store, pool.ca_tls_container_ref, project_id, "CA certificate")
        if pool.crl_container_ref:
            pool_crl = crl(store, pool.crl_container_ref, ca_pem, project_id)
    return PoolTls(certificate=cert, ca=ca_pem, crl=pool_crl)


class MaterialUnavailable(Exception):
    """A listener's or pool's TLS material could not be read when rendering; names the
    object and the ref, never a payload."""


POOL_REFS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref")


def resolve(store: SecretStore | None,
            snapshot: LoadBalancerSnapshot) -> LoadBalancerSnapshot:
    """The snapshot with the material of every TERMINATED_HTTPS listener and every
    re-encrypting pool, read for the load balancer's project. A pool without refs needs
    nothing (it verifies nothing, as Octavia's does), so no key manager is asked."""
    project = snapshot.lb.project_id
    tls: dict[str, ListenerTls | PoolTls] = {}
    for listener in snapshot.listeners:
        if listener.protocol == "TERMINATED_HTTPS":
            tls[listener.id] = _guarded(f"listener {listener.id}", for_listener, store,
                                        listener, project)
    for pool in snapshot.pools:
        if pool.tls_enabled:
            tls[pool.id] = (_guarded(f"pool {pool.id}", for_pool, store, pool, project)
                            if any(getattr(pool, ref) for ref in POOL_REFS) else PoolTls())
    return dataclasses.replace(snapshot, tls=tls) if tls else snapshot

def _guarded(what: str, read: Callable[[SecretStore, T, str], ListenerTls | PoolTls],
             store: SecretStore | None, obj: T, project: str) -> ListenerTls | PoolTls:
    if store is None:
        raise MaterialUnavailable(f"{what}: TLS material is needed but there is no key "
                                  "manager")
    try:
        return read(store, obj, project)
    except RefUnavailable as exc:
        raise MaterialUnavailable(f"{what}: could not retrieve certificate {exc.ref}") from None
    except certs.CertificateError as exc:
        raise MaterialUnavailable(f"{what}: {exc}") from None
