"""Fernet key repository under <state-dir>/fernet-keys, rotated the way Keystone does it.

Files are named by integers: 0 is the staged key (next primary), the highest number is the
primary (encrypts new tokens), the rest are secondaries (still decrypt). Rotation promotes
the staged key to primary, stages a new 0 and drops the oldest beyond `max_active`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet


class KeyRing:
    """Loads the keys, and reloads them when a rotation changed the directory."""

    def __init__(self, directory: Path, max_active: int = 3) -> None:
        self.directory = directory
        self.max_active = max_active
        self._stamp: float | None = None
        self._fernet: MultiFernet | None = None
        ensure(directory)

    def fernet(self) -> MultiFernet:
        stamp = self.directory.stat().st_mtime
        if self._fernet is None or stamp != self._stamp:
            self._fernet, self._stamp = load(self.directory), stamp
        return self._fernet


def _indexes(directory: Path) -> list[int]:
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _write_key(directory: Path, index: int) -> None:
    tmp = directory / f".{index}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(Fernet.generate_key())
    tmp.replace(directory / str(index))


def ensure(directory: Path) -> None:
    """Create the repository with a staged and a primary key if it is empty."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    existing = _indexes(directory)
    if 0 not in existing:
        _write_key(directory, 0)
    if len(_indexes(directory)) < 2:
        _write_key(directory, 1)


def load(directory: Path) -> MultiFernet:
    """Primary first (it encrypts), then the others newest to oldest, staged last."""
    indexes = _indexes(directory)
    order = sorted((i for i in indexes if i), reverse=True) + [0]
    return MultiFernet([Fernet((directory / str(i)).read_bytes().strip()) for i in order])


def rotate(directory: Path, max_active: int = 3) -> int:
    """Promote the staged key; returns the new primary's index."""
    ensure(directory)
    indexes = _indexes(directory)
    primary = max(indexes) + 1
    (directory / "0").replace(directory / str(primary))
    _write_key(directory, 0)
    secondaries = sorted(i for i in _indexes(directory) if i not in (0, primary))
    while len(secondaries) + 2 > max_active:
        (directory / str(secondaries.pop(0))).unlink()
    return primary
