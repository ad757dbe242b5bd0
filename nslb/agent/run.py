"""`nslb agent run`: the agent API over mutual TLS, and the thread that keeps the agent's
certificate and revoked list fresh.

Every connection is checked twice: the TLS handshake requires a certificate chaining to
the controller's CA and within its validity (CERT_REQUIRED), then pki/guard.py requires
the controller role and a serial not in the revoked list (read from `revoked.json` on
every connection, so a refresh takes effect at once). The refresher asks the controller
for the revoked serials every `refresh` seconds and renews this host's certificate once a
third of its life is left; the server context loads a renewed certificate for the
connections that follow.

With heartbeat targets (learned at join, or `--heartbeat-to`) and the key the controller
sent at join (`pki/heartbeat.key`), a Sender (nslb/heartbeat/sender.py) reports every
amphora of this host, and the host itself, to every health manager each interval.
"""

from __future__ import annotations

import logging
import ssl
import threading

import httpx
import uvicorn
from cryptography import x509

from nslb.agent import api
from nslb.agent.state import AgentFiles
from nslb.amphora.base import AmphoraDriver
from nslb.heartbeat.keys import read_key
from nslb.heartbeat.sender import Sender
from nslb.pki import checks, contexts, guard
from nslb.pki.ca import CONTROLLER, key_pem, make_csr, new_key, now, renew_due

log = logging.getLogger(__name__)
REFRESH = 60.0
TIMEOUT = 15.0


class AgentServer:
    def __init__(self, files: AgentFiles, driver: AmphoraDriver, host: str, port: int,
                 refresh: float = REFRESH, heartbeat_to: list[str] | None = None,
                 heartbeat_interval: float = 1.0) -> None:
        """`heartbeat_to`: the health managers (default: those learned at join)."""
        self.files = files
        self.driver = driver
        self.registration = files.registration()
        self.sender = self._sender(list(heartbeat_to or self.registration.heartbeat_to),
                                   heartbeat_interval)
        self.refresh_interval = refresh
        self.context = contexts.server_context(files.ca, files.cert, files.key)
        self._stop = threading.Event()
        config = uvicorn.Config(
            api.app(driver, self.registration.host_id), host=host, port=port,
            log_level="warning", access_log=False,
            http=guard.protocol_class(guard.limits(), self.refusal),
            ssl_context_factory=lambda _config, _default: self.context)
        self.server = uvicorn.Server(config)
        self._refresher = threading.Thread(target=self._refresh_loop, daemon=True,
                                           name="nslb-agent-refresh")

    def _sender(self, targets: list[str], interval: float) -> Sender | None:
        if not targets:
            log.warning("no heartbeat target: this host's amphorae are not reported "
                        "(the controller then observes them through this API)")
            return None
        try:
            key = read_key(self.files.heartbeat_key)
        except (OSError, ValueError) as exc:
            raise ValueError(f"heartbeats to {', '.join(targets)} need the key the "
                             f"controller sends at join ({exc}); join again") from None
        log.info("sending heartbeats every %g s to %s", interval, ", ".join(targets))
        return Sender(self.driver, targets, key, interval=interval,
                      host_id=self.registration.host_id)

    def refusal(self, der: bytes | None) -> str | None:
        return checks.refusal(der, role=CONTROLLER, revoked=self.files.revoked(), at=now())

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (uvicorn's handlers); amphorae keep serving."""
        self._refresher.start()
        if self.sender is not None:
            self.sender.start()
        try:
            self.server.run()
        finally:
            self._stop.set()
            if self.sender is not None:
                self.sender.stop()
            self.driver.close()

    # --- renewal and the revoked list ------------------------------------------------------

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_interval):
            try:
                self.refresh()
            except Exception as exc:  # the controller away: try again next round
                log.warning("refreshing from the controller failed: %s", exc)

    def _client(self) -> httpx.Client:
        ctx = contexts.client_context(self.files.ca, self.files.cert, self.files.key,
                                      check_hostname=False)
        return httpx.Client(verify=ctx, timeout=TIMEOUT)

    def _controller(self, resp: httpx.Response) -> None:
        why = checks.refusal(contexts.peer_der(resp), role=CONTROLLER, revoked=(), at=now())
        if why is not None:
            raise ssl.SSLError(f"the controller's certificate is refused: {why}")

    def refresh(self) -> bool:
        """Fetch the revoked list; renew the certificate when due. True when renewed."""
        base = self.registration.controller
        with self._client() as client:
            resp = client.get(f"{base}/v1/revoked")
            self._controller(resp)
            resp.raise_for_status()
            self.files.save_revoked([str(s) for s in resp.json()["revoked"]])
            cert = x509.load_pem_x509_certificate(self.files.cert.read_bytes())
            if not renew_due(cert):
                return False
            key = new_key()
            resp = client.post(f"{base}/v1/renew",
                               json={"csr": make_csr(key, self.registration.host_id).decode()})
            self._controller(resp)
            resp.raise_for_status()
        self.files.save_cert(key_pem(key), str(resp.json()["certificate"]).encode())
        self.context.load_cert_chain(str(self.files.cert), str(self.files.key))
        log.info("renewed this host's certificate")
        return True
