"""Slow down bursts of failed logins for one user name (in memory, per process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_NAMES = 10000  # guessed names must not grow the table without bound


class LoginThrottle:
    """Every attempt counts until a success clears the record. After `free` attempts within
    `window` seconds, each next attempt gets a slot a growing gap (doubling from 0.25 s,
    capped at `cap` seconds) after the previous one's, so attempts that arrive at once
    (a parallel burst) are spaced out as much as sequential ones."""

    def __init__(self, free: int = 3, window: float = 300.0, cap: float = 8.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.window, self.cap, self.clock = free, window, cap, clock
        self._lock = threading.Lock()
        # name -> (attempts, start of the last attempt, earliest start of the next one)
        self._attempts: dict[str, tuple[int, float, float]] = {}

    def reserve(self, name: str) -> float:
        """Count an attempt for `name`; the seconds it must wait before being checked."""
        with self._lock:
            now = self.clock()
            count, last, next_at = self._attempts.get(name, (0, now, now))
            if now - last > self.window:
                count, next_at = 0, now
            start = max(now, next_at)
            count += 1
            gap = 0.0 if count < self.free else min(self.cap, 0.25 * 2 ** (count - self.free))
            if name not in self._attempts and len(self._attempts) >= MAX_NAMES:
                self._prune(now)
            self._attempts[name] = (count, start, start + gap)
            return start - now

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._attempts.pop(name, None)

    def _prune(self, now: float) -> None:
        stale = [n for n, (_, last, _) in self._attempts.items() if now - last > self.window]
        for n in stale:
            del self._attempts[n]
        if len(self._attempts) >= MAX_NAMES:  # all recent: forget the quietest half
            for n, _ in sorted(self._attempts.items(), key=lambda kv: kv[1][0])[
                    :MAX_NAMES // 2]:
                del self._attempts[n]
