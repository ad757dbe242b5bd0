"""The controller's side of the PKI: its CA and own certificate under `<state-dir>/pki`,
the contexts it calls agents with, and the checks on agents that call it."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from pathlib import Path

from cryptography import x509

from nslb.db import hosts
from nslb.db.engine import Database
from nslb.pki import checks, contexts
from nslb.pki.ca import AGENT, CertificateAuthority, common_name, controller_identity, now

log = logging.getLogger(__name__)


def pki_dir(state_dir: Path) -> Path:
    return state_dir / "pki"


class ControllerPki:
    """The CA, the controller's key and certificate (reissued once due), and the one TLS
    client context for calls to agents (rebuilt when the certificate was reissued)."""

    def __init__(self, state_dir: Path, db: Database, names: tuple[str, ...] = ()) -> None:
        self.dir = pki_dir(state_dir)
        self.db = db
        self.ca = CertificateAuthority.load_or_create(self.dir)
        self.names = tuple(dict.fromkeys((*names, "127.0.0.1", "::1", socket.gethostname())))
        self._lock = threading.Lock()
        self.key_path, self.cert_path = controller_identity(self.ca, self.dir, self.names)
        self.generation = 0  # bumped by every reissue
        self._due_at = self._renewal_time()
        self._server: ssl.SSLContext | None = None

    @property
    def ca_path(self) -> Path:
        return self.dir / "ca.pem"

    def _renewal_time(self) -> float:
        """When (time.time()) the controller's certificate is due for renewal."""
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        return (end - (end - start) / 3).timestamp()

    def refresh(self) -> int:
        """Reissue the controller's certificate when due (a clock comparison otherwise:
        it runs before every call to an agent); the generation, which callers compare to
        rebuild their clients."""
        if time.time() < self._due_at:
            return self.generation
        with self._lock:
            before = self.cert_path.read_bytes()
            controller_identity(self.ca, self.dir, self.names)
            if self.cert_path.read_bytes() != before:
                self.generation += 1
                log.info("reissued the controller's certificate")
                if self._server is not None:  # new connections get the new certificate
                    self._server.load_cert_chain(str(self.cert_path), str(self.key_path))
            self._due_at = self._renewal_time()
            return self.generation

    def client_context(self) -> ssl.SSLContext:
        return contexts.client_context(self.ca_path, self.cert_path, self.key_path)

    def server_context(self) -> ssl.SSLContext:
        """The join listener's context: a client certificate is optional (a joining agent
        has none yet) but verified against the CA when present."""
        ctx = contexts.server_context(self.ca_path, self.cert_path, self.key_path)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self._server = ctx
        return ctx

    def revoked(self) -> set[str]:
        with self.db.read() as session:
            return hosts.revoked(session)

    def agent_refusal(self, der: bytes | None) -> str | None:
        """Why an agent's certificate is refused on a call to the controller (None: it is
        not, or there is none, which only the join endpoint accepts). Read from the
        database on every connection: a revoked serial or a removed host is refused at
        once."""
        if der is None:
            return None
        with self.db.read() as session:
            revoked = hosts.revoked(session)
            reason = checks.refusal(der, role=AGENT, revoked=revoked, at=now())
            if reason is None and hosts.get(session, common_name(
                    x509.load_der_x509_certificate(der))) is None:
                reason = "not a host of this controller"
        return reason
