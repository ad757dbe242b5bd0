"""Fernet key repository under <state-dir>/fernet-keys, rotated the way Keystone does it.

Files are named by integers: 0 is the staged key (next primary), the highest number is the
primary (encrypts new tokens), the rest are secondaries (still decrypt). Rotation promotes
the staged key to primary, stages a new 0 and drops the oldest beyond `max_active`.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet


class KeyRing:
    """Loads the keys, and reloads them when a rotation changed the directory.

    `generation` counts the changes of the key set seen by this process: the identity
    service drops its validation cache when it moves, so a token whose key was rotated
    out stops working at once (probe F12). A rotation changes the directory's mtime; a
    stamp younger than the filesystem's timestamp granularity is not trusted (a second
    rotation in the same tick would leave it unchanged), so the keys are re-read until
    the stamp has aged.
    """

    SETTLE_NS = 2_000_000_000

    def __init__(self, directory: Path, max_active: int = 3) -> None:
        self.directory = directory
        self.max_active = max_active
        self.generation = 0
        self._stamp: int | None = None
        self._settled = False
        self._keys: tuple[bytes, ...] = ()
        self._fernet: MultiFernet | None = None
        self._lock = threading.Lock()
        ensure(directory)

    def fernet(self) -> MultiFernet:
        with self._lock:
            stamp = self.directory.stat().st_mtime_ns
            if self._fernet is None or stamp != self._stamp or not self._settled:
                self._reload(stamp)
            assert self._fernet is not None
            return self._fernet

    def current(self) -> int:
        """The generation after noticing any rotation (cheap: one stat() when settled)."""
        self.fernet()
        return self.generation

    def _reload(self, stamp: int) -> None:
        self._settled = time.time_ns() - stamp > self.SETTLE_NS
        self._stamp = stamp
        found = read_keys(self.directory)
        if not found:  # caught between a rotation's steps: keep what we have, look again
            self._settled = False
            if self._fernet is not None:
                return
            raise FileNotFoundError(f"no Fernet keys in {self.directory}")
        if found != self._keys or self._fernet is None:
            self._keys = found
            self._fernet = MultiFernet([Fernet(k) for k in found])
            self.generation += 1


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


def read_keys(directory: Path) -> tuple[bytes, ...]:
    """Primary first (it encrypts), then the others newest to oldest, staged last."""
    indexes = _indexes(directory)
    order = sorted((i for i in indexes if i), reverse=True) + [i for i in indexes if not i]
    found = []
    for index in order:
        try:
            found.append((directory / str(index)).read_bytes().strip())
        except FileNotFoundError:  # pruned by a rotation under way: its mtime change
            continue               # makes the ring read again
    return tuple(found)


def load(directory: Path) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in read_keys(directory)])


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
