"""The HTTP server around the API: uvicorn with the limits a public endpoint needs.

uvicorn has no request-head timeout and no connection cap: 20,800 slowloris connections
exhausted nslb's file descriptors and the API refused everyone (probe F8). `GuardedH11Protocol`
is uvicorn's h11 protocol (the one uvicorn picks when httptools is absent, and the one nslb
always uses so these limits apply) plus:

- a request head must be complete within `header_timeout` of the connection opening (or of
  the first byte of a later request on a kept-alive connection), and its body within
  `body_timeout` of the head; otherwise the connection is closed;
- idle keep-alive connections close after `keepalive_timeout`;
- beyond `max_connections` open connections a new one is answered 503 and closed at once,
  so descriptors are never exhausted and the open connections keep being served;
- after an early answer (a 413 before the body was read) at most `max_body_bytes` more of
  the unread body are drained for the client's sake, then the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from nslb.config import Settings

log = logging.getLogger(__name__)
NR_OPEN = Path("/proc/sys/fs/nr_open")
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
           b"retry-after: 1\r\nconnection: close\r\n\r\n")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    max_connections: int
    drain_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings, fd_limit: int | None = None) -> ConnectionLimits:
        """The configured limits, with the connection cap lowered to half of `fd_limit`
        (the rest is for the database, stats sockets and netlink)."""
        cap = settings.max_connections
        if fd_limit is not None and cap > fd_limit // 2:
            log.warning("max_connections %d lowered to %d: the file descriptor limit is %d",
                        cap, max(fd_limit // 2, 1), fd_limit)
            cap = max(fd_limit // 2, 1)
        return cls(header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
                   keepalive_timeout=settings.keepalive_timeout, max_connections=cap,
                   drain_bytes=settings.max_body_bytes)


class RefusalLog:
    """At most one warning per `every` seconds about refused connections, so a flood
    cannot fill the disk with log lines (59 MB in a minute in the probe)."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.count = 0
        self.last = float("-inf")

    def note(self, cap: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            log.warning("refused %d connection(s): %d are open, the maximum", self.count, cap)
            self.count, self.last = 0, now


class GuardedH11Protocol(H11Protocol):
    """One connection. Subclassed per server by `protocol_class` to carry its limits."""

    limits: ConnectionLimits
    refusals: RefusalLog

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keepalive_timeout  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = ""  # "head" or "body" while a deadline runs
        self._refused = False
        self._drained = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refused = True
            self.refusals.note(self.limits.max_connections)
            transport.write(REFUSAL)
            transport.close()
            return
        super().connection_made(transport)
        self._start("head", self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered_early():
            # The app answered without reading the body; h11 drops what still arrives.
            self._drained += len(data)
            if self._drained > self.limits.drain_bytes:
                self._close("unread request body beyond the drain allowance")
                return
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._drained = 0
        self._follow()

    def _answered_early(self) -> bool:
        return (self.cycle is not None and self.cycle.response_complete
                and self.conn.their_state is h11.SEND_BODY)

    def _follow(self) -> None:
        """Run the deadline that fits what the client owes us now."""
        if self.transport is None or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE and self._waiting_for_head():
            self._start("head", self.limits.header_timeout)
        elif state is h11.SEND_BODY:
            self._start("body", self.limits.body_timeout)
        else:  # nothing owed (the app is working, or an idle keep-alive: uvicorn's timer)
            self._stop()

    def _waiting_for_head(self) -> bool:
        """Some bytes of a request head are buffered, or none has arrived yet on a new
        connection (no response sent yet)."""
        pending, _ = self.conn.trailing_data
        return bool(pending) or self.cycle is None

    def _start(self, phase: str, seconds: float) -> None:
        if self._phase == phase:
            return  # the deadline counts from the phase's start, not from the last byte
        self._stop()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._phase = None, ""

    def _expired(self, phase: str) -> None:
        self._deadline, self._phase = None, ""
        self._close(f"request {phase} not received in time")

    def _close(self, why: str) -> None:
        if self.client:
            log.debug("closing connection from %s:%d: %s", *self.client, why)
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A protocol class bound to `limits` (uvicorn builds protocols from a class)."""

    class NslbHttpProtocol(GuardedH11Protocol):
        pass

    NslbHttpProtocol.limits = limits
    NslbHttpProtocol.refusals = RefusalLog()
    return NslbHttpProtocol


def raise_fd_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            target = int(NR_OPEN.read_text())
        except (OSError, ValueError):
            target = soft
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError) as exc:
            log.warning("cannot raise the file descriptor limit to %d: %s", target, exc)
    return soft


def server_config(app: Any, settings: Settings, fd_limit: int | None = None,
                  **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for nslb's API: the guarded protocol, nslb's own request
    log instead of uvicorn's access log."""
    limits = ConnectionLimits.from_settings(settings, fd_limit)
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "http": protocol_class(limits),
        "log_level": settings.log_level.lower(), "access_log": False,
        "timeout_keep_alive": max(1, round(settings.keepalive_timeout)),
        **overrides,
    }
    return uvicorn.Config(app, **options)
