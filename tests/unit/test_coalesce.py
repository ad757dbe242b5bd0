"""Identical list requests share a read only if the read starts after they all arrived."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from nslb.api.coalesce import Coalescer


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001  (the test reads it)
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Reads:
    """A produce() whose reads block until released; counts them and their versions."""

    def __init__(self) -> None:
        self.version = 0  # the "database": bumped by a write
        self.started = 0
        self.release = threading.Semaphore(0)

    def produce(self) -> int:
        self.started += 1
        seen = self.version
        self.release.acquire()
        return seen


def test_a_request_arriving_during_a_read_gets_a_later_read() -> None:
    lists, reads = Coalescer[int](), Reads()
    first, got1 = _in_thread(lambda: lists.run("k", reads.produce))
    _until(lambda: reads.started == 1)
    reads.version = 1  # a write commits, then two identical requests arrive
    second, got2 = _in_thread(lambda: lists.run("k", reads.produce))
    third, got3 = _in_thread(lambda: lists.run("k", reads.produce))
    time.sleep(0.05)
    assert reads.started == 1  # they wait for the running read, they do not join it
    reads.release.release()
    first.join(5)
    _until(lambda: reads.started == 2)
    reads.release.release()
    second.join(5)
    third.join(5)
    assert (got1, got2, got3) == ([0], [1], [1])  # one read for both, after the write
    assert reads.started == 2


def test_different_keys_never_share() -> None:
    lists, reads = Coalescer[int](), Reads()
    a, got_a = _in_thread(lambda: lists.run(("p1",), reads.produce))
    b, got_b = _in_thread(lambda: lists.run(("p2",), reads.produce))
    _until(lambda: reads.started == 2)
    reads.release.release()
    reads.release.release()
    a.join(5)
    b.join(5)
    assert got_a == got_b == [0] and reads.started == 2


def test_a_fault_is_raised_to_its_reader_and_the_queue_reads_again() -> None:
    lists = Coalescer[int]()
    gate, calls = threading.Event(), []

    def failing() -> int:
        calls.append("fail")
        gate.wait(5)
        raise ValueError("bad marker")

    def fine() -> int:
        calls.append("fine")
        return 7

    leader, got_leader = _in_thread(lambda: lists.run("k", failing))
    _until(lambda: calls == ["fail"])
    waiting, got_waiting = _in_thread(lambda: lists.run("k", failing))
    joiner, got_joiner = _in_thread(lambda: lists.run("k", fine))
    time.sleep(0.05)
    gate.set()
    for t in (leader, waiting, joiner):
        t.join(5)
    assert isinstance(got_leader[0], ValueError) and isinstance(got_waiting[0], ValueError)
    assert got_joiner == [7]  # its flight failed: it read again by itself
    assert lists.run("k", lambda: 8) == 8  # nothing left queued


def test_a_lone_request_reads_at_once() -> None:
    assert Coalescer[str]().run("k", lambda: "x") == "x"
    with pytest.raises(KeyError):
        Coalescer[str]().run("k", lambda: {}["missing"])
