"""Run a short function inside a network namespace, from one long-lived thread.

Sockets are bound to the namespace of the thread that creates them, and /proc/sys/net
shows the namespace of the thread that opens it, so a netlink socket inside an amphora's
namespace, or one of its sysctls, needs a thread in that namespace. A fresh thread per call
cost 3-6 ms on a loaded host of 1,000 LBs (five of them on every new LB's path), while a
thread that stays and enters the namespace and comes back takes 0.05 ms a call. That
thread is this module's: it enters the namespace (setns), runs the function, and enters
the host's namespace again before it takes the next call.

If it cannot come back (which the kernel does not do for a namespace it let it enter),
it must not run anything else: it fails the call and ends, and the next call starts a new
thread. Calls are served one at a time, so a function must be short (create a socket,
write a file); the caller does the talking afterwards, from its own thread.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from nslb.netns.names import NETNS_DIR

log = logging.getLogger(__name__)
T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


Call = tuple[str, Callable[[], Any], "Future[Any]"]


class _Hopper:
    """The thread and its queue of calls (namespace, function, future)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: queue.SimpleQueue[Call] | None = None
        self._pid = 0  # the process the thread runs in (a forked child has no thread)

    def run(self, name: str, fn: Callable[[], T]) -> T:
        future: Future[T] = Future()
        with self._lock:  # a call is queued for a live thread, or failed by _retire
            self._queue().put((name, fn, future))
        return future.result()

    def _queue(self) -> queue.SimpleQueue[Call]:
        """The live thread's queue, the thread started first if needed (lock held)."""
        if self._calls is None or self._pid != os.getpid():
            calls: queue.SimpleQueue[Call] = queue.SimpleQueue()
            # the host's namespace: the main thread's, which never leaves it
            home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            threading.Thread(target=self._serve, args=(calls, home), daemon=True,
                             name="nslb-netns").start()
            self._calls, self._pid = calls, os.getpid()
        return self._calls

    def _serve(self, calls: queue.SimpleQueue[Call], home: int) -> None:
        try:
            while True:
                name, fn, future = calls.get()
                try:
                    result = _inside(name, fn, home)
                except _Stranded as exc:
                    future.set_exception(exc.__cause__ or exc)
                    break
                except BaseException as exc:  # handed to the caller's thread
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            os.close(home)
            self._retire(calls)

    def _retire(self, calls: queue.SimpleQueue[Call]) -> None:
        """This thread ends: the next call starts another (calls already queued fail)."""
        with self._lock:
            if self._calls is calls:
                self._calls = None
            while not calls.empty():
                _, _, future = calls.get_nowait()
                future.set_exception(OSError("the namespace thread stopped; try again"))


class _Stranded(Exception):
    """The thread could not enter the host's namespace again."""


def _inside(name: str, fn: Callable[[], T], home: int) -> T:
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
    finally:
        os.close(fd)
    try:
        return fn()
    finally:
        try:
            _setns(home)
        except OSError as exc:
            log.critical("the namespace thread could not leave %s: %s; it stops", name, exc)
            raise _Stranded from exc


_HOPPER = _Hopper()


def run_inside(name: str, fn: Callable[[], T]) -> T:
    """`fn()` run in the existing network namespace `name` (FileNotFoundError when there
    is none: never creates one); its result, or its exception, in the caller's thread."""
    return _HOPPER.run(name, fn)
