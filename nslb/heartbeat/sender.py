"""The sending side: every `interval`, one signed heartbeat per amphora of a host.

The agent of a host (nslb agent) runs a Sender over its driver; `nslb heartbeat send`
runs one from the shell, for tests and for debugging a health manager. What is sent is
what the driver's observe() reports (an amphora whose observation fails is reported not
running, so the health manager has it repaired), in Octavia's envelope (envelope.py), to
every health manager address given: like Octavia's amphora agent, to all of them, so a
controller that is down loses nothing.

An agent also sends its host's own heartbeat (`host_id`: the host's id in place of an
amphora's, reported running), so a host that carries no amphora is still seen UP
(nslb/health/hoststate.py).

`seq` is one counter for the whole sender, started at the wall clock in microseconds:
every heartbeat of an amphora has a greater seq than its last one, and so does the first
one after a restart, without anything stored (unless the clock went back meanwhile;
the receiver then refuses heartbeats until the sender's seq passes its last one, which
the time window bounds: a restart of the sender fixes it).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

from nslb.amphora.base import AmphoraDriver, Observation
from nslb.heartbeat.envelope import encode
from nslb.heartbeat.observation import heartbeat_of
from nslb.heartbeat.receiver import parse_listen

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, driver: AmphoraDriver, targets: list[str], key: bytes,
                 amphorae: Callable[[], Iterable[str]] | None = None,
                 interval: float = 1.0, clock: Callable[[], float] = time.time,
                 host_id: str | None = None) -> None:
        """`amphorae`: which amphorae to report (default: driver.existing());
        `host_id`: also send this host's own heartbeat."""
        self.driver = driver
        self.targets = [parse_listen(t) for t in targets]
        self.key = key
        self.amphorae = amphorae or driver.existing
        self.interval = interval
        self.clock = clock
        self.seq = time.time_ns() // 1000
        self.host_id = host_id
        self.sent = 0
        self._socks: dict[int, socket.socket] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sock(self, host: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if family not in self._socks:
            self._socks[family] = socket.socket(family, socket.SOCK_DGRAM)
        return self._socks[family]

    def datagram(self, amphora_id: str) -> bytes:
        """The next signed heartbeat of one amphora (or of the host itself)."""
        try:
            observation = Observation(running=True) if amphora_id == self.host_id \
                else self.driver.observe(amphora_id)
        except Exception:
            log.exception("observing amphora %s failed; reporting it not running", amphora_id)
            observation = Observation(running=False)
        self.seq += 1
        return encode(heartbeat_of(amphora_id, self.seq, self.clock(), observation), self.key)

    def beat(self) -> int:
        """Send one heartbeat of every amphora to every target; how many datagrams."""
        sent = 0
        ids = sorted(self.amphorae())
        if self.host_id is not None:
            ids.append(self.host_id)
        for amphora_id in ids:
            try:
                datagram = self.datagram(amphora_id)
            except ValueError:
                log.exception("heartbeat of amphora %s not sent", amphora_id)
                continue
            for host, port in self.targets:
                try:
                    self._sock(host).sendto(datagram, (host, port))
                    sent += 1
                except OSError as exc:
                    log.warning("heartbeat to %s:%d failed: %s", host, port, exc)
        self.sent += sent
        return sent

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nslb-heartbeat-send",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:
                log.exception("heartbeat round failed")
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
