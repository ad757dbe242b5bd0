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

HEADER = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<ts>[0-9T:.+Z-]{10,40}) (?P<host>\S{1,255}) \S{1,48} \S{1,128}"
    rb" \S{1,32} (?:-|\[.*?\]) (?P<msg>.*)", re.DOTALL)
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
    return PLAIN.sub(lambda m: b"\\x%02x" % m.group()[0], data).decode("ascii")


def parse(datagram: bytes) -> Record | None:
    """The record of one datagram, or None when it is not an access log line of an LB."""
    match = HEADER.fullmatch(datagram)
    if match is None or int(match["pri"]) & 7 != INFO:
        return None
    amphora = match["host"].decode("ascii", "replace")
    message = match["msg"].rstrip(b"\n")
    words = message.split(b" ", 2)
    if len(words) < 3 or not UUID.fullmatch(amphora):
        return None
    lb_id = words[1].decode("ascii", "replace")
    if not UUID.fullmatch(lb_id):
        return None
    return Record(loadbalancer_id=lb_id, amphora_id=amphora,
                  line=f"{match['ts'].decode('ascii')} {amphora} {_escape(message)}")
