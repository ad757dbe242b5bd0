"""uvicorn's guarded h11 protocol (nslb/api/server.py) plus the peer-certificate checks
of pki/checks.py, run on every connection once its TLS handshake is done (asyncio calls
connection_made only then). A refused peer's connection is closed before a byte of HTTP
is read; an accepted one's certificate common name reaches the app as
`request.state.peer` (uvicorn copies the protocol's app_state into each request)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from cryptography import x509

from nslb.api.server import ConnectionLimits, GuardedH11Protocol, RefusalLog
from nslb.pki.ca import common_name

log = logging.getLogger(__name__)

# The peer certificate (DER, None without one) -> why it is refused, or None.
PeerCheck = Callable[[bytes | None], str | None]


class PeerCheckedProtocol(GuardedH11Protocol):
    peer_check: PeerCheck

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        reason = type(self).peer_check(der) if ssl_object is not None else "not TLS"
        if reason is not None:
            peer = transport.get_extra_info("peername")
            log.warning("refused a connection from %s: %s", peer, reason)
            self._refused = True
            transport.close()
            return
        peer = common_name(x509.load_der_x509_certificate(der)) if der else ""
        self.app_state = {**self.app_state, "peer": peer}
        super().connection_made(transport)


def protocol_class(limits: ConnectionLimits, check: PeerCheck) -> type[PeerCheckedProtocol]:
    """A protocol class bound to its limits and peer check (uvicorn builds from a class)."""

    class Checked(PeerCheckedProtocol):
        pass

    Checked.limits = limits
    Checked.refusals = RefusalLog()
    Checked.peer_check = staticmethod(check)  # type: ignore[assignment]
    return Checked


def limits(max_connections: int = 256, max_body_bytes: int = 64 * 1024 * 1024
           ) -> ConnectionLimits:
    """The limits of the agent and join listeners: few peers, bundles up to some MB."""
    return ConnectionLimits(header_timeout=10.0, body_timeout=60.0, keepalive_timeout=30.0,
                            max_connections=max_connections, drain_bytes=max_body_bytes)


