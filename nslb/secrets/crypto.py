"""The payload key ring: AES-256-GCM keys under <state-dir>/secret-keys.

Key files are named by integers and hold 32 random bytes (base64); the highest number is
the primary, which seals new payloads, and every other key still opens what it sealed.
Each stored payload records the number of its key, so a rotation (rotation.py) can
re-seal payloads under a new primary and remove a key only once no payload uses it.

A sealed payload is nonce (12 bytes) + ciphertext + tag, with the secret's id and project
as associated data: a ciphertext copied onto another row, or a row moved to another
project, does not open.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import threading
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
AAD_PREFIX = b"nslb-key-manager-v1\x00"


class KeyUnavailable(Exception):
    """The key a payload names is gone, or the payload does not open with it. The
    message never holds key material or payload bytes."""


def associated_data(secret_id: str, project_id: str) -> bytes:
    return AAD_PREFIX + secret_id.encode() + b"\x00" + project_id.encode()


def key_ids(directory: Path) -> list[int]:
    """The key numbers present, ascending."""
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def write_key(directory: Path, key_id: int) -> None:
    """A new random key, written 0600 from its first byte and linked into place whole:
    FileExistsError if another process made that key first (its key is the one that
    counts, so nobody seals with a key that lost a race)."""
    tmp = directory / f".{key_id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)))
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, directory / str(key_id))
    finally:
        tmp.unlink(missing_ok=True)


def ensure(directory: Path) -> None:
    """The key directory (0700) with at least one key."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    if not key_ids(directory):
        with contextlib.suppress(FileExistsError):
            write_key(directory, 1)


def _read(directory: Path) -> dict[int, bytes]:
    keys = {}
    for key_id in key_ids(directory):
        try:
            raw = (directory / str(key_id)).read_bytes().strip()
        except FileNotFoundError:  # removed by a rotation under way
            continue
        key = base64.urlsafe_b64decode(raw)
        if len(key) != KEY_BYTES:
            raise ValueError(f"payload key {key_id} in {directory} is not a 256-bit key")
        keys[key_id] = key
    return keys


class PayloadKeys:
    """Seals and opens payloads; notices a rotation by the directory's mtime (and reads
    the keys again when a payload names a key it does not hold yet)."""

    SETTLE_NS = 2_000_000_000  # an mtime younger than this may hide a second change

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._keys: dict[int, bytes] = {}
        self._stamp: int | None = None
        self._settled = False

    def _current(self, force: bool = False) -> dict[int, bytes]:
        with self._lock:
            if not self._keys:
                ensure(self.directory)
            stamp = self.directory.stat().st_mtime_ns
            if force or not self._keys or stamp != self._stamp or not self._settled:
                found = _read(self.directory)
                if found:
                    self._keys = found
                self._stamp = stamp
                self._settled = time.time_ns() - stamp > self.SETTLE_NS
            return self._keys

    def primary(self) -> int:
        return max(self._current())

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[int, bytes]:
        """(key id, nonce + ciphertext + tag) under the primary key."""
        keys = self._current()
        key_id = max(keys)
        nonce = secrets.token_bytes(NONCE_BYTES)
        return key_id, nonce + AESGCM(keys[key_id]).encrypt(nonce, plaintext, aad)

    def open(self, key_id: int, sealed: bytes, aad: bytes) -> bytes:
        keys = self._current()
        if key_id not in keys:
            keys = self._current(force=True)
        key = keys.get(key_id)
        if key is None:
            raise KeyUnavailable(f"payload key {key_id} is not in {self.directory}")
        try:
            return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise KeyUnavailable(f"a payload sealed by key {key_id} does not open") from None


_RINGS: dict[Path, PayloadKeys] = {}
_RINGS_LOCK = threading.Lock()


def keys_for(state_dir: Path) -> PayloadKeys:
    """One key ring per state directory in this process (the API and the load balancer
    code share it)."""
    directory = (state_dir / "secret-keys").absolute()
    with _RINGS_LOCK:
        ring = _RINGS.get(directory)
        if ring is None:
            ring = _RINGS[directory] = PayloadKeys(directory)
        return ring
