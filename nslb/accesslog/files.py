"""`<state-dir>/logs/<lb_id>.log`, rotated by size, written by one owner.

The classic bug of logging.handlers.RotatingFileHandler in several processes is that each
process decides on its own to rename the file: lines go to a renamed file, two processes
rotate twice, backups are overwritten and lines lost. Here nothing but the collector's one
thread writes these files (nslb.accesslog.collector holds an exclusive lock on the
directory), and haproxy processes never touch them: they only send datagrams. Rotation is
therefore a plain sequence in that thread: close, shift `.1`..`.N-1` up by one (the oldest
falls off), rename the live file to `.1`, open a new one. A line is written whole into
exactly one file, and a file never grows past `max_bytes` (unless one line is longer).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nslb.accesslog.records import UUID


@dataclass
class _Open:
    handle: BinaryIO
    size: int


class LogFiles:
    """Per-LB log files with size-based rotation and at most `backups` old files each.

    At most `max_open` files stay open (the least recently written is closed first), so a
    host with thousands of load balancers does not run out of descriptors."""

    def __init__(self, directory: Path, max_bytes: int, backups: int,
                 max_open: int = 256) -> None:
        if max_bytes <= 0 or backups < 0 or max_open <= 0:
            raise ValueError("max_bytes and max_open must be positive, backups not negative")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.backups = backups
        self.max_open = max_open
        self._open: OrderedDict[str, _Open] = OrderedDict()
        # lb id -> how many backups it has (.1 .. .k), known once it rotated here
        self._kept: dict[str, int] = {}
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o750)

    def path(self, lb_id: str, generation: int = 0) -> Path:
        if not UUID.fullmatch(lb_id):
            raise ValueError(f"not a load balancer id: {lb_id!r}")
        suffix = f".{generation}" if generation else ""
        return self.directory / f"{lb_id}.log{suffix}"

    def write_lines(self, lb_id: str, data: bytes) -> None:
        """Append `data`, whole lines each ending in a newline, to the LB's file. A block
        that would take the file past `max_bytes` is written line by line, rotating in
        between, so every line is in exactly one file."""
        current = self._file(lb_id)
        if self._full(current, len(data)):
            for line in data.splitlines(keepends=True):
                current = self._room_for(lb_id, len(line))
                current.handle.write(line)
                current.size += len(line)
            return
        current.handle.write(data)
        current.size += len(data)

    def _room_for(self, lb_id: str, size: int) -> _Open:
        current = self._file(lb_id)
        if self._full(current, size):
            self._rotate(lb_id)
            current = self._file(lb_id)
        return current

    def _full(self, current: _Open, size: int) -> bool:
        """`size` more bytes would take a file past max_bytes (an empty one takes anything)."""
        return bool(current.size) and current.size + size > self.max_bytes

    def flush(self) -> None:
        for current in self._open.values():
            current.handle.flush()

    def close(self) -> None:
        for current in self._open.values():
            current.handle.close()
        self._open.clear()

    def _file(self, lb_id: str) -> _Open:
        current = self._open.get(lb_id)
        if current is not None:
            self._open.move_to_end(lb_id)
            return current
        while len(self._open) >= self.max_open:
            _, oldest = self._open.popitem(last=False)
            oldest.handle.close()
        fd = os.open(self.path(lb_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                     0o640)
        handle = os.fdopen(fd, "ab")
        current = _Open(handle, os.fstat(fd).st_size)
        self._open[lb_id] = current
        return current

    def _rotate(self, lb_id: str) -> None:
        self._open.pop(lb_id).handle.close()
        live = self.path(lb_id)
        if self.backups == 0:
            live.unlink()
            return
        kept = self._kept.get(lb_id)
        if kept is None:  # the backups a previous run left: 1..k, counted once
            kept = 0
            while kept < self.backups and self.path(lb_id, kept + 1).exists():
                kept += 1
        for generation in range(min(kept, self.backups - 1), 0, -1):
            os.replace(self.path(lb_id, generation), self.path(lb_id, generation + 1))
        os.replace(live, self.path(lb_id, 1))
        self._kept[lb_id] = min(kept + 1, self.backups)
