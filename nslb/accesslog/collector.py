"""The host's one reader of access logs: every amphora's haproxy ring (streamed from its
stats socket, nslb.accesslog.rings), the datagram socket the UDP agents send their per-flow
lines to, and one thread that turns both into lines of `<state-dir>/logs/<lb_id>.log` (or
syslog).

Why rings for haproxy: a datagram per request, and a wake-up of this thread per datagram,
cost a third of an HTTPS keep-alive listener's requests/s; haproxy writing into a ring of
its own memory and this thread reading it in 64 KB chunks costs far less (README, Access
logs). A ring never blocks haproxy: a reader too far behind makes haproxy drop new lines
(`show info` counts them as DroppedLogs).

Why one socket for the host, in the state dir (the UDP agents): they run inside the
amphora's network namespace. A filesystem socket is reachable from any network namespace
(an abstract one is not). The socket is root's, group `haproxy`, mode 0620: nobody else
on the host may send or read. A datagram to a full or missing socket is dropped by its
sender, so a slow or stopped collector never slows traffic.

Why one thread: it is the only writer of the log files (nslb.accesslog.files), held by an
exclusive lock on `<state-dir>/access-log.lock`, so a second nslb on the same state dir
cannot write or rotate them too. One selector serves the socket and every ring: 1,000
amphorae are 1,000 connections, not 1,000 threads.
"""

from __future__ import annotations

import fcntl
import grp
import logging
import os
import selectors
import socket
import threading
import time
from pathlib import Path
from typing import Protocol

from nslb.accesslog.records import parse, parse_lines
from nslb.accesslog.rings import RingFollower
from nslb.netns.sysctl import raise_unix_dgram_queue
from nslb.render.haproxy import log_socket_path

log = logging.getLogger(__name__)
# A datagram larger than haproxy's `len 4096` plus its header is not one of haproxy's.
MAX_DATAGRAM = 8192
# Datagrams taken before the files are flushed; a burst is written in batches, not lines.
BATCH = 512
RECEIVE_BUFFER = 4 * 1024 * 1024
# Datagrams the socket may queue while the thread is busy (the kernel reads the limit when
# the socket is created; nslb.netns.sysctl raises it for the host first).
QUEUE = 1024
# How often the amphorae are looked at for a new worker (a reload) or a new amphora: the
# new worker's ring holds what it logs until then (1 MiB, nslb.render.views.RingView).
SCAN = 0.1
# The shortest round: after a round that read something the thread waits out the rest, so
# haproxy's lines pile up in the rings and sockets and are taken many per recv(), instead
# of one wake-up (ours and haproxy's CLI) per line (a keep-alive HTTPS listener lost
# requests/s to those wake-ups). 10 ms of lines at 30,000/s is ~100 KB: the ring holds 1 MiB.
ROUND = 0.01


class Sink(Protocol):
    def write_lines(self, lb_id: str, data: bytes) -> None:
        """`data`: one or more whole lines of the LB's log, each ending in a newline."""
    def flush(self) -> None: ...
    def close(self) -> None: ...


class AlreadyCollecting(RuntimeError):
    """Another process holds the state dir's access log lock."""


class Collector:
    def __init__(self, state_dir: Path, sink: Sink, group: str | None = "haproxy") -> None:
        """`group`: the account haproxy runs as, allowed to send (None: only our own uid,
        for an nslb that is not root and runs haproxy as itself)."""
        self.path = log_socket_path(state_dir)
        self.lock_path = Path(state_dir) / "access-log.lock"
        self.sink = sink
        self.group = group
        self.received = 0
        self.written = 0
        self.malformed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._lock_fd: int | None = None
        self._selector = selectors.DefaultSelector()
        self.rings = RingFollower(Path(state_dir), self._selector, self._take_lines)

    def start(self) -> None:
        self._lock()
        self._socket = self._bind()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()
        log.info("collecting access logs on %s", self.path)

    def stop(self) -> None:
        """Take what is queued on the socket, write it, close the files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
            self.path.unlink(missing_ok=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyCollecting(f"another process collects access logs ({self.lock_path})"
                                    ) from None
        self._lock_fd = fd

    def _bind(self) -> socket.socket:
        if os.geteuid() == 0:
            raise_unix_dgram_queue(QUEUE)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.path.unlink(missing_ok=True)  # a previous collector's; we hold the lock
        sock.bind(str(self.path))
        if self.group is not None and os.geteuid() == 0:
            os.chown(self.path, 0, grp.getgrnam(self.group).gr_gid)
            self.path.chmod(0o620)
        else:
            self.path.chmod(0o600)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        assert self._socket is not None
        self._selector.register(self._socket, selectors.EVENT_READ)
        scanned = 0.0
        while not self._stop.is_set():
            if time.monotonic() - scanned >= SCAN:
                self._scan()
                scanned = time.monotonic()
            began = time.monotonic()
            if self._serve(self._selector.select(timeout=SCAN)):
                self._stop.wait(ROUND - (time.monotonic() - began))
        self._serve(self._selector.select(timeout=0))
        self._drain()
        self.rings.close()
        self._selector.close()
        self.sink.close()

    def _scan(self) -> None:
        try:
            self.rings.scan()
        except OSError as exc:  # a state dir being changed under us: next round
            log.warning("looking for access log rings: %s", exc)

    def _serve(self, ready: list[tuple[selectors.SelectorKey, int]]) -> bool:
        """Read every ready ring and the socket, then write what came as one batch. True
        when something was ready."""
        for key, _ in ready:
            if key.data is None:
                self._drain()
            else:
                self.rings.ready(key.data)
        if ready:
            self.sink.flush()
        return bool(ready)

    def _drain(self) -> None:
        """Read until the socket is empty, flushing the sink after every batch."""
        assert self._socket is not None
        while True:
            taken = 0
            for _ in range(BATCH):
                try:
                    datagram = self._socket.recv(MAX_DATAGRAM)
                except BlockingIOError:
                    break
                taken += 1
                self._take(datagram)
            if taken:
                self.sink.flush()
            if taken < BATCH:
                return

    def _take(self, datagram: bytes) -> None:
        self.received += 1
        record = parse(datagram)
        if record is None:
            self.malformed += 1
            return
        self._write(record.loadbalancer_id, record.data())

    def _take_lines(self, lines: list[bytes]) -> None:
        """Lines of one worker's ring, as one recv() brought them."""
        self.received += len(lines)
        kept, dropped = parse_lines(lines)
        self.malformed += dropped
        for lb_id, data in kept:
            self._write(lb_id, data)

    def _write(self, lb_id: str, data: bytes) -> None:
        try:
            self.sink.write_lines(lb_id, data)
        except OSError as exc:  # a full disk: keep reading, say so
            log.error("cannot write the access log of %s: %s", lb_id, exc)
            return
        self.written += data.count(b"\n")
