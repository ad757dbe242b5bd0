"""Access log collection: what a datagram becomes, size rotation, and the one-writer
guarantee under concurrent producers (no line lost or duplicated across rotations)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import stat
from collections import Counter
from pathlib import Path

import pytest

from nslb.accesslog.collector import AlreadyCollecting, Collector
from nslb.accesslog.files import LogFiles
from nslb.accesslog.records import parse, parse_lines

LB = "11111111-1111-4111-8111-111111111111"
LB2 = "22222222-2222-4222-8222-222222222222"
AMP = "88888881-8888-4888-8888-888888888881"
TS = "2026-12-03T16:55:24.128651+00:00"
FIELDS = ('{lb} 33333333-3333-4333-8333-333333333333 10.206.1.50 46208 03/Dec/2026:16:55:24.128'
          ' "GET {path} HTTP/1.1" 200 73 123 - "" 44444444-4444-4444-8444-444444444444 '
          '66666661-6666-4666-8666-666666666661 0 ----')


def datagram(path: str = "/a", lb: str = LB, host: str = AMP, pri: int = 134,
             project: str = "f0e1d2c3b4a5968778695a4b3c2d1e0f") -> bytes:
    message = f"{project} " + FIELDS.format(lb=lb, path=path)
    return f"<{pri}>1 {TS} {host} haproxy 4527 - - {message}\n".encode()


def test_a_haproxy_datagram_becomes_one_line_with_time_and_amphora() -> None:
    record = parse(datagram())
    assert record is not None
    assert record.loadbalancer_id == LB and record.amphora_id == AMP
    assert record.line == f"{TS} {AMP} f0e1d2c3b4a5968778695a4b3c2d1e0f " + FIELDS.format(
        lb=LB, path="/a")


@pytest.mark.parametrize("bad", [
    datagram(pri=133),                       # notice: haproxy's own messages, not traffic
    datagram(host="amphora-1"),              # hostname that is not an amphora id
    datagram(lb="../../etc/passwd"),         # an LB field that is not a UUID
    datagram().replace(b"<134>1 ", b"<134>"),  # not RFC 5424
    b"",
])
def test_anything_else_is_dropped(bad: bytes) -> None:
    assert parse(bad) is None


def test_client_bytes_cannot_break_a_line() -> None:
    raw = datagram().replace(b"/a", b"/a\nforged line\r\x00\xff\\x")
    record = parse(raw)
    assert record is not None
    assert "\n" not in record.line and "\r" not in record.line
    assert "/a\\x0aforged\\x20line" not in record.line  # spaces are kept as they are
    assert "/a\\x0aforged line\\x0d\\x00\\xff\\x5cx" in record.line
    assert record.line.isascii() and record.line.isprintable()


def ring_line(path: str = "/a", lb: str = LB, pid: int = 4527, **kwargs: object) -> bytes:
    """What a ring holds: a datagram's text without its newline."""
    return datagram(path=path, lb=lb, **kwargs).rstrip(b"\n").replace(
        b" haproxy 4527 ", b" haproxy %d " % pid)


def _one_by_one(lines: list[bytes]) -> tuple[bytes, int]:
    kept = [record for record in map(parse, lines) if record is not None]
    return b"".join((r.line + "\n").encode() for r in kept), len(lines) - len(kept)


@pytest.mark.parametrize("lines", [
    [ring_line(f"/{n}") for n in range(50)],                       # the usual block
    [ring_line("/a"), ring_line("/b\x01")],                         # one needs escaping
    [ring_line("/a"), ring_line("/b", pri=133), ring_line("/c")],   # a notice among them
    [ring_line("/a"), ring_line("/b", lb=LB2)],                     # another LB's line
    [ring_line("/a"), ring_line("/b", pid=7)],                      # another worker's
    [ring_line("/a"), ring_line(f"/{AMP}%20haproxy%204527%20-%20-")],
    [ring_line("/a"), ring_line("/b").replace(b" 4527 - - ", b" 4527 - - - ")],
    [ring_line("/a"), b"garbage", b""],
    [ring_line("/a", host="amphora-1")],
    [ring_line("/a").replace(b".128651+00:00", b"+00:00")],         # another timestamp shape
])
def test_a_block_of_ring_lines_is_what_each_line_gives(lines: list[bytes]) -> None:
    kept, dropped = parse_lines(lines)
    by_lb: dict[str, bytes] = {}
    for lb_id, data in kept:
        assert data.endswith(b"\n")
        by_lb[lb_id] = by_lb.get(lb_id, b"") + data
    expected, expected_dropped = _one_by_one(lines)
    assert (b"".join(data for _, data in kept), dropped) == (expected, expected_dropped)
    for lb_id, data in by_lb.items():
        assert all(line.split()[3] == lb_id.encode() for line in data.splitlines())


def _line(n: int) -> bytes:
    return f"line {n:06d} ".encode() + b"x" * 40 + b"\n"


def _lines(files: LogFiles, lb: str) -> list[str]:
    """Every line of the LB, oldest file first."""
    paths = sorted(files.directory.glob(f"{lb}.log.*"), key=lambda p: -int(p.suffix[1:]))
    out: list[str] = []
    for path in [*paths, files.path(lb)]:
        if path.exists():
            out += path.read_text().splitlines()
    return out


def test_rotation_keeps_files_under_the_size_and_the_newest_lines(tmp_path: Path) -> None:
    files = LogFiles(tmp_path / "logs", max_bytes=1000, backups=3)
    for n in range(200):
        files.write_lines(LB, _line(n))
    files.close()
    kept = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert kept == [f"{LB}.log", f"{LB}.log.1", f"{LB}.log.2", f"{LB}.log.3"]
    assert all((tmp_path / "logs" / name).stat().st_size <= 1000 for name in kept)
    lines = _lines(files, LB)
    numbers = [int(line.split()[1]) for line in lines]
    # the newest lines, in order, with nothing missing in between
    assert numbers == list(range(200 - len(numbers), 200))
    assert len(numbers) > 3 * (1000 // 53)


def test_a_block_past_the_size_is_rotated_between_its_lines(tmp_path: Path) -> None:
    files = LogFiles(tmp_path / "logs", max_bytes=1000, backups=3)
    for first in range(0, 200, 25):  # blocks of 25 lines (1,325 bytes): each rotates
        files.write_lines(LB, b"".join(_line(n) for n in range(first, first + 25)))
    files.close()
    assert all(p.stat().st_size <= 1000 for p in (tmp_path / "logs").iterdir())
    numbers = [int(line.split()[1]) for line in _lines(files, LB)]
    assert numbers == list(range(200 - len(numbers), 200))
    assert len(numbers) > 3 * (1000 // 53)


def test_a_restarted_writer_appends_and_counts_the_existing_size(tmp_path: Path) -> None:
    first = LogFiles(tmp_path, max_bytes=1000, backups=2)
    for n in range(10):
        first.write_lines(LB, _line(n))
    first.close()
    second = LogFiles(tmp_path, max_bytes=1000, backups=2)
    for n in range(10, 30):
        second.write_lines(LB, _line(n))
    second.close()
    assert [int(x.split()[1]) for x in _lines(second, LB)] == list(range(30))
    assert oct(stat.S_IMODE(second.path(LB).stat().st_mode)) == "0o640"


def _produce(path: str, producer: int, count: int) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for n in range(count):
            lb = LB if n % 2 else LB2
            sock.sendto(datagram(path=f"/p{producer}/{n:05d}", lb=lb), path)


def test_concurrent_producers_lose_and_duplicate_nothing_across_rotations(
        tmp_path: Path) -> None:
    """Four processes send as fast as they can while the files rotate every ~20 lines:
    every line is in exactly one file, each producer's lines in the order it sent them."""
    producers, count = 4, 1000
    files = LogFiles(tmp_path / "logs", max_bytes=4096, backups=10_000)
    collector = Collector(tmp_path, files, group=None)
    collector.start()
    try:
        context = multiprocessing.get_context("fork")
        procs = [context.Process(target=_produce, args=(str(collector.path), p, count))
                 for p in range(producers)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
            assert proc.exitcode == 0
    finally:
        collector.stop()
    assert collector.received == collector.written == producers * count
    seen: Counter[str] = Counter()
    for lb in (LB, LB2):
        paths = list((tmp_path / "logs").glob(f"{lb}.log*"))
        assert len(paths) > 10, "the test must rotate many times"
        assert all(p.stat().st_size <= 4096 for p in paths)
        order: dict[str, list[int]] = {}
        for line in _lines(files, lb):
            assert line.split()[3] == lb
            producer, n = line.split('"GET /p', 1)[1].split()[0].split("/")
            seen[f"{producer}/{n}"] += 1
            order.setdefault(producer, []).append(int(n))
        for numbers in order.values():
            assert numbers == sorted(numbers)
    expected = {f"{p}/{n:05d}" for p in range(producers) for n in range(count)}
    assert set(seen) == expected
    assert set(seen.values()) == {1}


def test_one_collector_per_state_dir(tmp_path: Path) -> None:
    first = Collector(tmp_path, LogFiles(tmp_path / "logs", 1000, 1), group=None)
    first.start()
    try:
        with pytest.raises(AlreadyCollecting):
            Collector(tmp_path, LogFiles(tmp_path / "logs", 1000, 1), group=None).start()
    finally:
        first.stop()
    assert not first.path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="socket ownership needs root")
def test_only_haproxy_may_send(tmp_path: Path) -> None:
    import grp

    collector = Collector(tmp_path, LogFiles(tmp_path / "logs", 1000, 1))
    collector.start()
    try:
        info = collector.path.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o620
        assert info.st_gid == grp.getgrnam("haproxy").gr_gid
    finally:
        collector.stop()


def test_syslog_sink_sends_local0_info_tagged_lines(tmp_path: Path) -> None:
    from nslb.accesslog.syslog import SyslogSink

    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "dev-log"))
    sink = SyslogSink(str(tmp_path / "dev-log"))
    try:
        record = parse(datagram())
        assert record is not None
        sink.write_lines(LB, (record.line + "\n").encode())
        assert receiver.recv(8192) == f"<134>nslb-access: {record.line}".encode()
    finally:
        sink.close()
        receiver.close()
    lost = SyslogSink(str(tmp_path / "no-syslog-here"))
    lost.write_lines(LB, _line(1))  # no syslog daemon: dropped and counted, never raised
    assert lost.dropped == 1
    lost.close()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"access_log": "journal"}, "unknown access log target"),
    ({"access_log_backups": -1}, "access_log_backups"),
    ({"access_log_max_bytes": 0}, "access_log_max_bytes"),
])
def test_access_log_settings_are_checked(overrides: dict[str, object], message: str) -> None:
    from nslb.config import ConfigError, load

    with pytest.raises(ConfigError, match=message):
        load(None, overrides, environ={})


def test_the_usual_block_is_taken_whole() -> None:
    """One worker's lines of one LB with nothing to escape: the fast path, not line by line
    (the parametrized test above shows both give the same bytes)."""
    from nslb.accesslog.records import _all_alike

    lines = [ring_line(f"/{n}") for n in range(50)]
    assert _all_alike(lines) == [(LB, _one_by_one(lines)[0])]
    assert _all_alike([*lines, ring_line("/b\x01")]) is None
