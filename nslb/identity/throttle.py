"""Slow down bursts of failed logins for one user name (in memory, per process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LoginThrottle:
    """After `free` failures within `window` seconds, each attempt waits longer (doubling,
    capped at `cap` seconds). A success clears the record."""

    def __init__(self, free: int = 3, window: float = 300.0, cap: float = 8.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.window, self.cap, self.clock = free, window, cap, clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}

    def delay(self, name: str) -> float:
        """Seconds to wait before checking this user's password."""
        with self._lock:
            count, last = self._failures.get(name, (0, 0.0))
        if count < self.free or self.clock() - last > self.window:
            return 0.0
        return min(self.cap, 0.25 * 2 ** (count - self.free))

    def failed(self, name: str) -> None:
        with self._lock:
            count, last = self._failures.get(name, (0, 0.0))
            if self.clock() - last > self.window:
                count = 0
            self._failures[name] = (count + 1, self.clock())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)
