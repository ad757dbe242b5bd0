"""Lifelines: which watched processes exited, learnt by one poll() of their pidfds."""

from __future__ import annotations

import subprocess
import sys

from nslb.amphora.lifelines import Lifelines


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_an_exit_is_seen_at_the_next_refresh_and_its_descriptor_closed() -> None:
    lines, one, two = Lifelines(), _sleeper(), _sleeper()
    try:
        assert lines.alive(one.pid) and lines.alive(two.pid)
        assert len(lines) == 2
        one.kill()
        one.wait()
        assert lines.alive(one.pid)  # as of the last refresh
        lines.refresh()
        assert not lines.alive(one.pid)
        assert lines.alive(two.pid)
        assert len(lines) == 1  # the exited one's pidfd is closed
    finally:
        for proc in (one, two):
            proc.kill()
            proc.wait()
        lines.close()
    assert len(lines) == 0


def test_a_process_that_is_gone_or_no_process_is_not_alive() -> None:
    lines, gone = Lifelines(), _sleeper()
    gone.kill()
    gone.wait()
    assert not lines.alive(gone.pid)
    assert not lines.alive(0) and not lines.alive(-1)
    assert len(lines) == 0


def test_without_pidfds_proc_answers() -> None:
    lines, proc = Lifelines(), _sleeper()
    lines._supported = False
    try:
        assert lines.alive(proc.pid)
        proc.kill()
        proc.wait()
        assert not lines.alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
