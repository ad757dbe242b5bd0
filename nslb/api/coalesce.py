"""Identical list requests that wait together share one read.

A list of 1,000 load balancers costs the serve 11-13 ms of CPU, most of it with the GIL
held, so N clients listing at once each waited for about N lists (bench/lists_serve.py:
p50 126 ms at 8 connections). Here, per key (the same collection, query, caller scope
and base URL, so the same response), at most one read runs at a time. Requests that
arrive while it runs do not join it: it may have read rows before they arrived, and a
client must see every change committed before its request. They queue for the next read
instead, which starts when the running one ends, after every one of them arrived, and
all of them get its response. So no answer is older than its request; identical lists
that arrive together cost one read; a lone request runs at once as before.

Only requests with equal keys share. The key holds everything the response depends on,
the database object included (see api/octavia/common.list_response); two projects never
share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Flight(Generic[T]):
    """One read and the requests that get its answer."""

    def __init__(self) -> None:
        self.start = threading.Event()  # set when this flight may read
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class _Key(Generic[T]):
    def __init__(self, running: _Flight[T]) -> None:
        self.running: _Flight[T] = running
        self.waiting: _Flight[T] | None = None


class Coalescer(Generic[T]):
    """Runs `produce` for a key once per queue of requests; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[Hashable, _Key[T]] = {}

    def run(self, key: Hashable, produce: Callable[[], T]) -> T:
        flight, leads = self._board(key)
        if leads:
            flight.start.wait()
            try:
                flight.result = produce()
            except BaseException as exc:
                flight.error = exc
                raise
            finally:
                self._land(key, flight)
            return flight.result
        flight.done.wait()
        if flight.error is not None:
            # A fault is not shared (handlers amend the exception they raise): each
            # request reads again by itself, still after it arrived.
            return produce()
        return flight.result  # type: ignore[return-value]

    def _board(self, key: Hashable) -> tuple[_Flight[T], bool]:
        """The flight this request goes with, and whether it makes the read."""
        with self._lock:
            state = self._keys.get(key)
            if state is None:
                flight: _Flight[T] = _Flight()
                flight.start.set()
                self._keys[key] = _Key(flight)
                return flight, True
            if state.waiting is None:
                state.waiting = _Flight()
                return state.waiting, True
            return state.waiting, False

    def _land(self, key: Hashable, flight: _Flight[T]) -> None:
        """`flight` answered: wake its requests and let the next one start."""
        with self._lock:
            state = self._keys[key]
            if state.waiting is None:
                del self._keys[key]
            else:
                state.running, state.waiting = state.waiting, None
                state.running.start.set()
        flight.done.set()
