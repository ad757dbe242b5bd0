"""The shared heartbeat key (Octavia's [health_manager] heartbeat_key).

One key per installation, in a file of its own (0600): the controller creates it on first
start when it listens for heartbeats, and every sender reads the same file (an agent gets
it when it joins). 32 random bytes, hex-encoded; the key is the file's text without
surrounding whitespace, so an operator may also write one by hand.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

MIN_KEY = 16  # bytes


def read_key(path: Path) -> bytes:
    key = path.read_text().strip().encode("utf-8")
    if len(key) < MIN_KEY:
        raise ValueError(f"heartbeat key in {path} is shorter than {MIN_KEY} bytes")
    return key


def ensure_key(path: Path) -> bytes:
    """The key in `path`, made (0600, never replacing a file that exists) if missing."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return read_key(path)
