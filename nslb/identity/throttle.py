"""Failed-login throttle by (source, user): a guesser slows down only itself.

Probe F6/F7: the old throttle keyed by user name alone and *parked* every attempt until a
booked slot, so 40 bad logins for `admin` from anyone locked the real admin out for
minutes, kept abandoned requests (and uvicorn's shutdown) waiting, and stored every
submitted name. Here:

- an attempt is counted per (source, user) and per source; past `free` attempts each
  admitted one closes the door for a doubling delay (capped). An attempt that arrives
  while the door is closed is refused *at once* with the seconds to wait: nothing sleeps.
- a success clears the (source, user) record, so the real user at another address never
  notices an attacker; a spray of names from one source hits the per-source record.
- the table holds fixed-size salted digests, never a submitted name, and at most
  `max_entries` of them (least recently used forgotten first).

This table is one process's. Several controllers sharing a PostgreSQL database count in
the database instead (identity/shared_throttle.py, the same rules), so a guesser gains
nothing by spreading attempts over them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

MAX_ENTRIES = 10000


@dataclass(slots=True)
class _Record:
    count: int  # attempts admitted and not (yet) followed by a success
    closed_until: float  # no attempt is admitted before this instant
    seen: float  # last admitted attempt


def source_key(host: str | None) -> str:
    """One key per client: an IPv6 host usually owns its whole /64, so that is the unit."""
    if not host:
        return ""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


class LoginThrottle:
    """Counts login attempts; answers how long a refused attempt must wait (0 = go on)."""

    def __init__(self, free: int = 5, window: float = 300.0, cap: float = 60.0,
                 base: float = 1.0, source_free: int = 100, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.window, self.cap, self.base = free, window, cap, base
        self.source_free, self.max_entries, self.clock = source_free, max_entries, clock
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(16)
        self._records: OrderedDict[bytes, _Record] = OrderedDict()

    @property
    def size(self) -> int:
        """Records held (each a 16-byte digest and three numbers)."""
        return len(self._records)

    def _digest(self, source: str, user: str | None) -> bytes:
        h = hashlib.blake2b(key=self._salt, digest_size=16)
        h.update(source.encode("utf-8", "surrogatepass"))
        if user is not None:
            h.update(b"\0" + user.encode("utf-8", "surrogatepass"))
        return h.digest()

    def admit(self, source: str, user: str) -> float:
        """Count an attempt by `user` from `source` and return 0, or refuse it: the seconds
        until the next attempt would be admitted (nothing is counted then)."""
        keys = (self._digest(source, user), self._digest(source, None))
        with self._lock:
            now = self.clock()
            records = [self._fresh(key, now) for key in keys]
            wait = max(r.closed_until - now for r in records)
            if wait > 0:
                return wait
            for record, free in zip(records, (self.free, self.source_free), strict=True):
                self._count(record, free, now)
            for key, record in zip(keys, records, strict=True):
                self._store(key, record)
            return 0.0

    def succeeded(self, source: str, user: str) -> None:
        """The right password: forget this user's failures from this source, and take the
        attempt back from the source's tally."""
        with self._lock:
            self._records.pop(self._digest(source, user), None)
            record = self._records.get(self._digest(source, None))
            if record is not None:
                record.count = max(0, record.count - 1)

    def refund(self, source: str, user: str) -> None:
        """An admitted attempt that was never checked (the server was too busy): it does
        not count, so a user caught in someone else's flood is not throttled for it."""
        with self._lock:
            for key in (self._digest(source, user), self._digest(source, None)):
                record = self._records.get(key)
                if record is not None:
                    record.count = max(0, record.count - 1)

    def _fresh(self, key: bytes, now: float) -> _Record:
        return self.fresh(self._records.get(key), now)

    def fresh(self, record: _Record | None, now: float) -> _Record:
        """The record to count on: a new one when there is none, or when the old one is
        past its window with its door open."""
        if record is None or (now - record.seen > self.window and record.closed_until <= now):
            return _Record(0, now, now)
        return record

    def _count(self, record: _Record, free: int, now: float) -> None:
        record.count += 1
        record.seen = now
        if record.count >= free:
            doublings = min(record.count - free, 32)  # the cap is reached long before
            record.closed_until = now + min(self.cap, self.base * 2 ** doublings)

    def _store(self, key: bytes, record: _Record) -> None:
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self.max_entries:
            self._records.popitem(last=False)
