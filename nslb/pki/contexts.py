"""TLS contexts for controller <-> agent: TLS 1.2+, the CA as the only trust anchor,
a certificate required from the peer on both sides."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any


def server_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """A server that accepts only clients presenting a certificate from `ca`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(cafile=str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(ca: Path | bytes, cert: Path | None = None, key: Path | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A client that trusts only `ca`, presenting `cert` when given. The address the
    server is reached at must be in its certificate unless `check_hostname` is off (the
    join listener: the agent checks the controller's role instead)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if isinstance(ca, bytes):
        ctx.load_verify_locations(cadata=ca.decode())
    else:
        ctx.load_verify_locations(cafile=str(ca))
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def peer_der(response: Any) -> bytes | None:
    """The DER certificate of the server an httpx response came from (None if unknown)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(True)
    return der
