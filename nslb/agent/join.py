"""`nslb agent join`: trade a one-time token and a CSR for this host's certificate.

The agent trusts nothing but the token: it fetches the controller's CA certificate over a
TLS connection it cannot verify yet, accepts it only when its sha256 matches the
fingerprint in the token, and sends the token and CSR only over a connection verified
against that CA to a server holding the controller role. The key never leaves the host.
"""

from __future__ import annotations

import os
import socket
import ssl

import httpx
from cryptography import x509

from nslb.agent.state import AgentFiles, Registration
from nslb.pki import checks, contexts, tokens
from nslb.pki.ca import CONTROLLER, fingerprint, key_pem, make_csr, new_key, now

TIMEOUT = 15.0


class JoinError(RuntimeError):
    """The join did not happen; the message says why (never the token)."""


def fetch_ca(controller: str, expected: str) -> bytes:
    """The controller's CA certificate, checked against the token's fingerprint."""
    blind = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    blind.check_hostname = False
    blind.verify_mode = ssl.CERT_NONE  # only to read a certificate we then pin
    try:
        resp = httpx.get(f"{controller}/v1/ca", verify=blind, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise JoinError(f"cannot reach the controller at {controller}: {exc}") from None
    if resp.status_code != 200:
        raise JoinError(f"the controller answered {resp.status_code} for its CA")
    try:
        ca = x509.load_pem_x509_certificate(resp.content)
    except ValueError:
        raise JoinError("the controller sent no CA certificate") from None
    if fingerprint(ca) != expected:
        raise JoinError("the controller's CA does not match the token's fingerprint: "
                        "refusing to join")
    return resp.content


def join(controller: str, token_text: str, files: AgentFiles, address: str, port: int,
         name: str | None = None, max_amphorae: int = 0) -> Registration:
    controller = controller.rstrip("/")
    if not controller.startswith("https://"):
        raise JoinError("the controller URL must be https://HOST:PORT (its join listener)")
    try:
        token = tokens.parse(token_text)
    except tokens.BadToken as exc:
        raise JoinError(str(exc)) from None
    ca_pem = fetch_ca(controller, token.ca_fingerprint)
    key = new_key()
    body = {"token": token.text, "csr": make_csr(key, name or socket.gethostname()).decode(),
            "name": name or socket.gethostname(), "address": address, "port": port,
            "max_amphorae": max_amphorae, "cpu_count": os.cpu_count() or 0,
            "memory_mb": _memory_mb()}
    ctx = contexts.client_context(ca_pem, check_hostname=False)
    try:
        with httpx.Client(verify=ctx, timeout=TIMEOUT) as client:
            resp = client.post(f"{controller}/v1/join", json=body)
            why = checks.refusal(contexts.peer_der(resp), role=CONTROLLER, revoked=(),
                                 at=now())
    except httpx.HTTPError as exc:
        raise JoinError(f"join request failed: {exc}") from None
    if why is not None:
        raise JoinError(f"the join listener is not the controller: {why}")
    if resp.status_code != 201:
        raise JoinError(f"the controller refused the join ({resp.status_code}): "
                        f"{_error(resp)}")
    data = resp.json()
    beat = data.get("heartbeat")
    targets = (heartbeat_target(controller, beat),) if isinstance(beat, dict) else ()
    registration = Registration(host_id=str(data["host_id"]), controller=controller,
                                address=address, port=port, heartbeat_to=targets)
    if isinstance(beat, dict):
        files.save_heartbeat_key(str(beat["key"]))
    files.save(registration, ca_pem, key_pem(key), str(data["certificate"]).encode(),
               [str(s) for s in data.get("revoked", [])])
    return registration


def heartbeat_target(controller: str, beat: dict[str, object]) -> str:
    """HOST:PORT of the health manager: the address it listens on, or (when it listens on
    every address) the host of the controller's join URL."""
    host = str(beat.get("host") or "") or (httpx.URL(controller).host or "")
    port = int(str(beat["port"]))
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _error(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))
    except ValueError:
        return resp.text[:200]


def _memory_mb() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20)
    except (ValueError, OSError):
        return 0
