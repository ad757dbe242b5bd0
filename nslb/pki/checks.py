"""The checks a peer certificate passes on every connection, after the TLS handshake has
verified its chain and validity dates against the CA: the role it must have, a serial
that is not revoked, and (for an agent the controller calls) the host it must be.
Pure: the revoked serials and the clock are passed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from cryptography import x509

from nslb.pki.ca import common_name, role_of, serial_text


def refusal(der: bytes | None, *, role: str, revoked: Collection[str],
            at: dt.datetime, name: str | None = None) -> str | None:
    """Why the peer certificate `der` is refused, or None when it is accepted."""
    if not der:
        return "no client certificate"
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return "unreadable certificate"
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return "certificate expired or not yet valid"
    if role_of(cert) != role:
        return f"certificate role is not {role}"
    if serial_text(cert.serial_number) in revoked:
        return "certificate revoked"
    if name is not None and common_name(cert) != name:
        return f"certificate is not for {name}"
    return None
