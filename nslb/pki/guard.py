"""uvicorn's guarded h11 protocol (nslb/api/server.py) plus the peer-certificate checks
of pki/checks.py, run on every connection once its TLS handshake is done (asyncio calls
connection_made only then). A refused peer's connection is closed before a byte of HTTP
is read; an accepted one's certificate common name reaches the app as
`request.state.peer` (uvicorn copies the protocol's app_state into each request)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from cryptography import x509

from nslb.api.server import ConnectionLimits, GuardedH11Protocol, RefusalLog
from nslb.pki.ca import common_name

log = logging.getLogger(__name__)

# The peer certificate (DER, None without one) -> why it is refused, or None.
PeerCheck = Callable[[bytes | None], str | None]


class RefusedPeers:
    """At most one warning per `every` seconds about refused peers, so a flood of bad
    handshakes cannot fill the disk; the last reason and the count go with it."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.count = 0
        self.last = float("-inf")

    def note(self, peer: object, reason: str) -> None:
        self.count += 1
        at = time.monotonic()
        if at - self.last >= self.every:
            log.warning("refused %d connection(s), the last from %s: %s", self.count, peer,
                        reason)
            self.count, self.last = 0, at


class PeerCheckedProtocol(GuardedH11Protocol):
    peer_check: PeerCheck
    refused_peers: RefusedPeers

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        try:
            reason = type(self).peer_check(der) if ssl_object is not None else "not TLS"
        except Exception as exc:  # the database away: refuse rather than guess
            reason = f"the check failed: {type(exc).__name__}"
        if reason is not None:
            self.refused_peers.note(transport.get_extra_info("peername"), reason)
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
    Checked.refused_peers = RefusedPeers()
    Checked.peer_check = staticmethod(check)  # type: ignore[assignment]
    return Checked


def limits(max_connections: int = 256, max_body_bytes: int = 64 * 1024 * 1024
           ) -> ConnectionLimits:
    """The limits of the agent and join listeners: few peers, bundles up to some MB."""
    return ConnectionLimits(header_timeout=10.0, body_timeout=60.0, keepalive_timeout=30.0,
                            max_connections=max_connections, drain_bytes=max_body_bytes)


