"""One datagram from an amphora's haproxy -> one access log line, or nothing.

haproxy sends RFC 5424 (`format rfc5424` on each logging frontend, nslb.render):

    <134>1 2026-12-03T16:55:24.128651+00:00 <amphora id> haproxy 4527 - - <fields>

where `<fields>` is Octavia's tenant flow format (nslb.render.logformat) whose first two
words nslb wrote itself: a project id (or `-`) and the load balancer id. The line kept is

    <timestamp> <amphora id> <fields>

Whatever does not fit (another severity: haproxy's own notices; a hostname or LB id that
is not a UUID) is dropped, so a file name is only ever built from a UUID. A request path
is the only client-chosen text in a line; any byte outside printable ASCII is written as
`\\xNN`, so one datagram is exactly one line whatever a client sends.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# `<PRI>1` with PRI = facility * 8 + severity; haproxy sends no structured data (`-`).
VERSION = re.compile(rb"<(\d{1,3})>1")
TIMESTAMP = re.compile(rb"[0-9T:.+Z-]{10,40}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INFO = 6  # syslog severity of haproxy's traffic logs
# Bytes written as they are; every other byte becomes \xNN (a backslash too, so an
# escaped line is never ambiguous).
PLAIN = re.compile(rb"[^\x20-\x5b\x5d-\x7e]")


@dataclass(frozen=True)
class Record:
    loadbalancer_id: str
    amphora_id: str
    line: str  # without its newline

    def data(self) -> bytes:
        """The line as a log file holds it (ASCII: parse escaped everything else)."""
        return (self.line + "\n").encode("ascii")


def _escape(data: bytes) -> str:
    if PLAIN.search(data) is None:  # the usual case: nothing to escape
        return data.decode("ascii")
    return PLAIN.sub(lambda m: b"\\x%02x" % m.group()[0], data).decode("ascii")


def parse(datagram: bytes) -> Record | None:
    """The record of one datagram, or None when it is not an access log line of an LB.
    Split by hand, not one regex: the collector runs this for every request of the host."""
    parts = datagram.split(b" ", 7)
    if len(parts) != 8 or parts[6] != b"-":
        return None
    head, timestamp, host, message = parts[0], parts[1], parts[2], parts[7]
    version = VERSION.fullmatch(head)
    if version is None or int(version[1]) & 7 != INFO or not TIMESTAMP.fullmatch(timestamp):
        return None
    words = message.split(b" ", 2)
    if len(words) < 3:
        return None
    amphora = host.decode("ascii", "replace")
    lb_id = words[1].decode("ascii", "replace")
    if not (UUID.fullmatch(amphora) and UUID.fullmatch(lb_id)):
        return None
    text = _escape(message.rstrip(b"\n"))
    line = f"{timestamp.decode('ascii')} {amphora} {text}"
    return Record(loadbalancer_id=lb_id, amphora_id=amphora, line=line)


# --- many lines of one amphora's ring at once ---------------------------------------------
# haproxy's RFC 5424 timestamp always has this shape (microseconds, numeric offset), so the
# head of every line of one worker has one length and one pid.
STAMP = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d"
# Every byte a line may carry as it is, and the newline that ends it: `translate` deleting
# these leaves exactly the bytes that need escaping.
KEPT = bytes(range(0x20, 0x5C)) + bytes(range(0x5D, 0x7F)) + b"\n"


@functools.lru_cache(maxsize=1024)
def _block(amphora: bytes, lb_id: bytes, pid: bytes) -> re.Pattern[bytes]:
    """Lines that are all info lines of this amphora's worker `pid` for this LB."""
    one = (rb"<134>1 " + STAMP + rb" " + re.escape(amphora) + rb" haproxy " + pid
           + rb" - - \S+ " + re.escape(lb_id) + rb" [^\n]*\n")
    return re.compile(rb"(?:" + one + rb")*")


def parse_lines(lines: list[bytes]) -> tuple[list[tuple[str, bytes]], int]:
    """Ring lines (no newlines) -> ([(lb_id, the kept lines, each ending in a newline)], how
    many were dropped). Equal to `parse` line by line; much cheaper for the usual block of
    one worker's traffic lines of one LB with nothing to escape (a few C calls instead of
    a dozen Python steps per line: the collector does this for every request of the host)."""
    if not lines:
        return [], 0
    fast = _all_alike(lines)
    if fast is not None:
        return fast, 0
    kept: list[tuple[str, bytes]] = []
    for line in lines:
        record = parse(line)
        if record is not None:
            kept.append((record.loadbalancer_id, record.data()))
    return kept, len(lines) - len(kept)


def _all_alike(lines: list[bytes]) -> list[tuple[str, bytes]] | None:
    """The fast path of parse_lines, or None when a line differs from the first one's
    amphora, worker or LB, or needs escaping."""
    first = parse(lines[0])
    if first is None:
        return None
    parts = lines[0].split(b" ", 5)
    amphora, pid, lb_id = parts[2], parts[4], first.loadbalancer_id.encode("ascii")
    data = b"\n".join(lines) + b"\n"
    if not pid.isdigit() or _block(amphora, lb_id, pid).fullmatch(data) is None \
            or data.translate(None, KEPT):
        return None
    middle = b" " + amphora + b" haproxy " + pid + b" - - "
    if data.count(middle) != len(lines):  # a client's text repeats it: go line by line
        return None
    data = (b"\n" + data).replace(b"\n<134>1 ", b"\n")[1:]
    return [(first.loadbalancer_id, data.replace(middle, b" " + amphora + b" "))]
