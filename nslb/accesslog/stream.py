"""One connection's worth of an amphora's access log ring, as haproxy sends it: the reply
to `show info;show events <ring> -w`, cut into lines. Pure: bytes in, lines out.

The `show info` part comes first and ends with an empty line; its `Pid:` says which worker
accepted the connection (after a reload the stats socket is the new worker's, and one
connection may still reach the old one). Then each ring message is one line; a chunk from
recv() may end in the middle of one, which waits for the next chunk.

`after`: a reconnect to a worker already read (its connection dropped) reads its ring from
the start again and skips the lines not newer than the last one taken, compared by their
RFC 5424 timestamp (same worker, same clock and format, so bytes compare as times).
"""

from __future__ import annotations

import re

PID = re.compile(rb"^Pid: (\d+)$", re.MULTILINE)
# The `show info` reply is about 1.5 KB; a longer header is not haproxy's.
MAX_HEADER = 64 * 1024
# A ring line is at most `maxlen` (4096) bytes; a longer tail is not one of haproxy's.
MAX_LINE = 16 * 1024


class NotARing(ValueError):
    """The peer did not answer as haproxy's stats socket does."""


class RingStream:
    def __init__(self, after: bytes | None = None) -> None:
        self.pid: int | None = None
        self.after = after
        self.last: bytes | None = None  # the timestamp of the last line returned
        self._rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines `chunk` ends, without their newline. Raises NotARing."""
        data = self._rest + chunk
        if self.pid is None:
            data = self._header(data)
            if self.pid is None:
                return []
        lines = data.split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > MAX_LINE:
            self._rest = b""  # dropped; its end will not parse as a line either
        kept = [line for line in lines if line and self._newer(line)]
        if kept:
            self.last = _timestamp(kept[-1])
        return kept

    def _header(self, data: bytes) -> bytes:
        end = data.find(b"\n\n")
        if end < 0:
            if len(data) > MAX_HEADER:
                raise NotARing("no end of `show info`")
            self._rest = data
            return b""
        found = PID.search(data, 0, end)
        if found is None:
            raise NotARing("`show info` without a Pid")
        self.pid = int(found[1])
        return data[end + 2:]

    def _newer(self, line: bytes) -> bool:
        if self.after is None:
            return True
        stamp = _timestamp(line)
        if stamp is not None and stamp <= self.after:
            return False
        self.after = None  # past the resume point: everything after it is new
        return True


def _timestamp(line: bytes) -> bytes | None:
    """The RFC 5424 timestamp of `<PRI>1 <timestamp> ...`, or None."""
    parts = line.split(b" ", 2)
    return parts[1] if len(parts) == 3 else None
