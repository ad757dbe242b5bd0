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
