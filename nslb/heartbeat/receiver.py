"""The health manager's UDP listener (`--heartbeat-listen`).

One thread reads datagrams and checks each one completely (envelope.decode, then
freshness) before anything else sees it; the heartbeats it accepts are coalesced per
amphora (the newest wins) and a second thread hands them to the sink once per
`flush_interval`, so the database sees one transaction per round whatever the rate. Each
datagram is counted by its outcome in `nslb_heartbeats_total{result}` (accepted, forged,
malformed, replayed, stale, unknown); refusals are logged at DEBUG only, at most a line
per second, since anyone who can reach the port can make them.

The set of amphorae accepted is the set of amphora_health rows, re-read every flush
(their last seq with them), so an amphora created a moment ago is accepted within a round.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram

from nslb.heartbeat.envelope import MAX_DATAGRAM, Heartbeat, Rejected, decode
from nslb.heartbeat.freshness import DEFAULT_WINDOW, Freshness
from nslb.heartbeat.store import Received

log = logging.getLogger(__name__)
RESULTS = ("accepted", "forged", "malformed", "replayed", "stale", "unknown")
RCVBUF = 8 * 1024 * 1024  # a second of 10,000 heartbeats waits in the kernel, not lost


class Sink(Protocol):
    """Where batches go (store.HeartbeatStore) and which amphorae are watched."""

    def store(self, batch: dict[str, Received]) -> None: ...

    def watched(self) -> dict[str, int]: ...

    def retain(self, amphora_ids: set[str]) -> None: ...


class HeartbeatMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.heartbeats = Counter(
            "nslb_heartbeats", "Heartbeat datagrams received, by result (accepted, or why "
            "refused: forged, malformed, replayed, stale, unknown amphora)", ["result"],
            registry=r)
        for result in RESULTS:
            self.heartbeats.labels(result)
        self.flush_latency = Histogram(
            "nslb_heartbeat_flush_seconds", "Time to store one batch of heartbeats",
            registry=r)


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"heartbeat listen address must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


class Receiver:
    def __init__(self, listen: str, key: bytes, store: Sink,
                 window: float = DEFAULT_WINDOW, flush_interval: float = 1.0,
                 metrics: HeartbeatMetrics | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.listen = parse_listen(listen)
        self.key = key
        self.store = store
        self.flush_interval = flush_interval
        self.metrics = metrics or HeartbeatMetrics()
        self.clock = clock
        self.freshness = Freshness(window)
        self._lock = threading.Lock()  # freshness and pending
        self._pending: dict[str, Received] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sock: socket.socket | None = None
        self._logged_at = 0.0
        self._counts = {r: self.metrics.heartbeats.labels(r) for r in RESULTS}

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the port the kernel chose for port 0)."""
        assert self._sock is not None
        return self._sock.getsockname()[:2]  # type: ignore[no-any-return]

    def start(self) -> None:
        host, port = self.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.bind((host, port))
        sock.settimeout(0.2)
        self._sock = sock
        self.refresh()
        for name, target in (("nslb-heartbeat-recv", self._receive),
                             ("nslb-heartbeat-flush", self._flush_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("heartbeats: listening on %s:%d", *self.address)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.flush()
        if self._sock is not None:
            self._sock.close()

    # --- per datagram ----------------------------------------------------------------------

    def handle(self, datagram: bytes, now: float) -> Heartbeat | None:
        """Check one datagram; keep it for the next flush when it is a new heartbeat."""
        try:
            heartbeat = decode(datagram, self.key)
            with self._lock:
                self.freshness.admit(heartbeat, now)
                self._pending[heartbeat.amphora_id] = Received(heartbeat, now)
        except Rejected as exc:
            self._counts[exc.reason].inc()
            if now - self._logged_at >= 1.0:
                self._logged_at = now
                log.debug("heartbeat refused: %s", exc)
            return None
        self._counts["accepted"].inc()
        return heartbeat

    def _receive(self) -> None:
        assert self._sock is not None
        recv = self._sock.recv
        while not self._stop.is_set():
            try:
                datagram = recv(MAX_DATAGRAM + 1)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                log.exception("heartbeat socket failed")
                time.sleep(0.1)
                continue
            self.handle(datagram, self.clock())

    # --- per round -------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
                self.refresh()
            except Exception:
                log.exception("storing heartbeats failed")

    def flush(self) -> int:
        """Hand what arrived since the last flush to the store; how many amphorae."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if batch:
            started = time.perf_counter()
            self.store.store(batch)
            self.metrics.flush_latency.observe(time.perf_counter() - started)
        return len(batch)

    def refresh(self) -> None:
        """Accept the amphorae the database watches now, from their stored seq on."""
        watched = self.store.watched()
        with self._lock:
            for amphora_id, seq in watched.items():
                self.freshness.watch(amphora_id, seq)
            for gone in set(self.freshness.last) - set(watched):
                self.freshness.forget(gone)
        self.store.retain(set(watched))
