"""An agent's state dir: `agent.json` (its host id, the controller's join URL, the
address and port it was registered with), `pki/` (ca.pem, agent.key 0600, agent.pem,
revoked.json) and the amphorae' directories (`amp/`) the namespace driver keeps."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from nslb.pki.ca import write_private, write_public


@dataclass(frozen=True)
class Registration:
    host_id: str
    controller: str
    address: str
    port: int
    # HOST:PORT of the health managers learned at join (empty: heartbeats off there)
    heartbeat_to: tuple[str, ...] = ()


class AgentFiles:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir
        self.pki = state_dir / "pki"
        self.ca = self.pki / "ca.pem"
        self.key = self.pki / "agent.key"
        self.cert = self.pki / "agent.pem"
        self.revoked_file = self.pki / "revoked.json"
        self.heartbeat_key = self.pki / "heartbeat.key"
        self.registration_file = state_dir / "agent.json"

    def joined(self) -> bool:
        return self.registration_file.exists() and self.cert.exists() and self.key.exists()

    def registration(self) -> Registration:
        data = json.loads(self.registration_file.read_text())
        data["heartbeat_to"] = tuple(data.get("heartbeat_to", ()))
        return Registration(**data)

    def save(self, registration: Registration, ca: bytes, key: bytes, cert: bytes,
             revoked: list[str]) -> None:
        write_public(self.ca, ca)
        write_private(self.key, key)
        write_public(self.cert, cert)
        self.save_revoked(revoked)
        write_public(self.registration_file, json.dumps(asdict(registration)).encode())

    def save_heartbeat_key(self, key: str) -> None:
        """The shared heartbeat key, as the controller sent it at join (0600)."""
        write_private(self.heartbeat_key, key.encode() + b"\n")

    def save_cert(self, key: bytes, cert: bytes) -> None:
        """A renewed certificate: the key first, both atomically."""
        write_private(self.key, key)
        write_public(self.cert, cert)

    def save_revoked(self, revoked: list[str]) -> None:
        write_public(self.revoked_file, json.dumps(sorted(revoked)).encode())

    def revoked(self) -> set[str]:
        try:
            return {str(s) for s in json.loads(self.revoked_file.read_text())}
        except (OSError, ValueError):
            return set()
