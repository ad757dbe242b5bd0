"""Reading amphorae' access log rings: a `show info;show events` reply cut anywhere, and
the follower across a reload, a connection that reached the old worker, and a connection
dropped while its worker lives, against a fake stats socket (no line lost or doubled)."""

from __future__ import annotations

import os
import queue
import selectors
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nslb.accesslog import rings
from nslb.accesslog.stream import NotARing, RingStream

AMP = "88888881-8888-4888-8888-888888888881"
INFO = b"Name: HAProxy\nPid: %d\nUptime_sec: 3\n\n"


def line(n: int, pid: int = 100) -> bytes:
    return b"<134>1 2026-12-04T12:00:00.%06d+00:00 %s haproxy %d - - x %d" % (
        n, AMP.encode(), pid, n)


def test_a_reply_cut_anywhere_gives_the_same_pid_and_lines() -> None:
    reply = INFO % 4242 + b"".join(line(n) + b"\n" for n in range(3))
    for cut in range(len(reply) + 1):
        stream = RingStream()
        got = stream.feed(reply[:cut]) + stream.feed(reply[cut:])
        assert stream.pid == 4242 and got == [line(n) for n in range(3)], cut


def test_a_resumed_reply_skips_what_was_taken() -> None:
    stream = RingStream(after=line(1).split(b" ")[1])
    assert stream.feed(INFO % 1 + b"\n".join(line(n) for n in range(4)) + b"\n") == [
        line(2), line(3)]
    assert stream.last == line(3).split(b" ")[1]


def test_a_reply_without_pid_is_not_a_ring() -> None:
    with pytest.raises(NotARing):
        RingStream().feed(b"Unknown command\n\n")


@dataclass
class FakeHaproxy:
    """A stats socket whose accepted connections (and the command each sent) the test
    answers itself; `children` and `newest` stand for the master's workers."""

    path: Path
    accepted: queue.Queue[tuple[socket.socket, bytes]] = field(default_factory=queue.Queue)
    newest: int = 100

    def serve(self) -> None:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(self.path))
        listener.listen(8)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            conn, _ = listener.accept()
            self.accepted.put((conn, conn.recv(1024)))

    def next(self) -> tuple[socket.socket, bytes]:
        return self.accepted.get(timeout=5)


@pytest.fixture
def state() -> Iterator[Path]:
    """A short state dir: a unix socket path must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="rings"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def fake(state: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHaproxy]:
    amp = state / "amp" / AMP
    amp.mkdir(parents=True)
    (amp / "haproxy.pid").write_text("1\n")
    haproxy = FakeHaproxy(amp / "stats.sock")
    haproxy.serve()
    monkeypatch.setattr(rings, "children", lambda master: [haproxy.newest])
    monkeypatch.setattr(rings, "_newest", lambda pids: pids[0] if pids else None)
    monkeypatch.setattr(rings, "_alive", lambda pid: True)
    yield haproxy


def _rewrite(pidfile: Path) -> None:
    """What haproxy's master does to its pid file at a reload: delete, write anew."""
    pidfile.unlink()
    pidfile.write_text("1\n")
    os.utime(pidfile, ns=(10**9, 10**9))  # a new mtime even on a coarse clock


def pump(selector: selectors.BaseSelector, follower: rings.RingFollower,
         rounds: int = 20) -> None:
    for _ in range(rounds):
        for key, _ in selector.select(timeout=0.01):
            follower.ready(key.data)


def test_reload_reads_the_old_worker_to_its_end_and_the_new_one_from_its_start(
        state: Path, fake: FakeHaproxy) -> None:
    taken: list[bytes] = []
    selector = selectors.DefaultSelector()
    follower = rings.RingFollower(state, selector, taken.extend)
    follower.scan()
    old, command = fake.next()
    assert command == b"show info;show events access -w -n\n"  # started before us
    old.sendall(INFO % 100 + line(1) + b"\n" + line(2)[:20])
    pump(selector, follower)
    # reload: the master writes its pid file again, then forks worker 200
    fake.newest = 200
    _rewrite(state / "amp" / AMP / "haproxy.pid")
    pump(selector, follower)  # the watch reports it
    follower.scan()
    early, command = fake.next()  # the old worker still accepted this one
    assert command == b"show info;show events access -w\n"  # a new worker: from its start
    early.sendall(INFO % 100 + line(1) + b"\n")
    pump(selector, follower)
    assert early.recv(10) == b""  # closed by the follower, its lines not taken
    follower.scan()
    new, _ = fake.next()
    new.sendall(INFO % 200 + line(1, 200) + b"\n")
    old.sendall(line(2)[20:] + b"\n" + line(3) + b"\n")
    old.close()  # the old worker exits
    pump(selector, follower)
    assert sorted(taken) == sorted([line(1), line(2), line(3), line(1, 200)])


def test_a_dropped_connection_resumes_after_the_last_line_taken(
        state: Path, fake: FakeHaproxy) -> None:
    taken: list[bytes] = []
    selector = selectors.DefaultSelector()
    follower = rings.RingFollower(state, selector, taken.extend)
    follower.scan()
    first, _ = fake.next()
    first.sendall(INFO % 100 + line(1) + b"\n" + line(2) + b"\n")
    pump(selector, follower)
    first.close()  # dropped, worker 100 still runs
    pump(selector, follower)
    follower.scan()
    again, command = fake.next()
    assert command == b"show info;show events access -w\n"
    again.sendall(INFO % 100 + b"".join(line(n) + b"\n" for n in range(1, 5)))
    pump(selector, follower)
    assert taken == [line(n) for n in range(1, 5)]
    follower.close()


def test_one_read_takes_all_that_waits_not_one_chunk(state: Path, fake: FakeHaproxy) -> None:
    """What stays in the socket holds haproxy's reader back in its ring (and a full ring
    drops new lines), so one ready connection is read until it is empty."""
    batches: list[list[bytes]] = []
    selector = selectors.DefaultSelector()
    follower = rings.RingFollower(state, selector, batches.append)
    follower.scan()
    conn, _ = fake.next()
    lines = [line(n) for n in range(1, 1201)]  # ~115 KB: two chunks and more
    conn.sendall(INFO % 100 + b"".join(x + b"\n" for x in lines))
    for key, _ in selector.select(timeout=5):
        follower.ready(key.data)  # once
    assert [x for batch in batches for x in batch] == lines
    follower.close()


def test_a_scan_looks_only_at_amphorae_whose_pid_file_was_written(
        state: Path, fake: FakeHaproxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stat-ing every pid file at every scan cost ~9 % of a core at 1,000 amphorae: an
    idle amphora is left alone until its watch reports a write (a start or a reload)."""
    monkeypatch.setattr(rings, "LOOK", 0.2)
    looked: list[str] = []
    selector = selectors.DefaultSelector()
    follower = rings.RingFollower(state, selector, lambda lines: None)
    scan_one = follower._scan_one
    monkeypatch.setattr(follower, "_scan_one",
                        lambda name, amp, first: (looked.append(name), scan_one(name, amp, first)))
    follower.scan()
    conn, _ = fake.next()
    conn.sendall(INFO % 100)
    pump(selector, follower)
    time.sleep(0.3)  # past the look after the start
    looked.clear()
    for _ in range(3):
        follower.scan()
    assert looked == []  # idle: not looked at
    _rewrite(state / "amp" / AMP / "haproxy.pid")
    pump(selector, follower)
    follower.scan()
    assert looked == [AMP]
    follower.close()


def test_an_amphora_that_cannot_be_watched_is_looked_at_every_scan(
        state: Path, fake: FakeHaproxy, monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[str] = []
    follower = rings.RingFollower(state, selectors.DefaultSelector(), lambda lines: None)

    def full(path: object, mask: int) -> int:
        raise OSError(28, "No space left on device (max_user_watches)")

    monkeypatch.setattr(follower._notify, "add_watch", full)
    monkeypatch.setattr(follower, "_scan_one", lambda name, amp, first: looked.append(name))
    for _ in range(3):
        follower.scan()
    assert looked == [AMP] * 3
    follower.close()


def test_an_amphora_started_between_two_scans_is_read(state: Path, fake: FakeHaproxy) -> None:
    """Its pid file was written before its directory was watched (no event will come):
    the scan that finds the directory looks at it."""
    follower = rings.RingFollower(state, selectors.DefaultSelector(), lambda lines: None)
    follower.scan()
    fake.next()  # the first amphora's connection
    second = "88888882-8888-4888-8888-888888888882"
    amp = state / "amp" / second
    amp.mkdir()
    (amp / "haproxy.pid").write_text("1\n")
    FakeHaproxy(amp / "stats.sock").serve()
    os.utime(state / "amp", ns=(2 * 10**9, 2 * 10**9))  # the listing changed
    follower.scan()
    assert follower.connects == 2
    follower.close()
