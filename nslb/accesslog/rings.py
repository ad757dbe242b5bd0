"""Every amphora's access log ring on this host, streamed from its stats socket into one
selector the collector's thread serves (1,000 amphorae are 1,000 connections, not
threads).

Which amphorae: the directories `<state-dir>/amp/<uuid>/` with a running haproxy master
(its pid file), listed when the directory changes. Which worker: the newest live child
of the master. haproxy's master deletes and writes its pid file again on every reload; an
inotify watch on each amphora's directory says so (the watch's descriptor is in the
collector's selector), and the next scan (every 0.1 s) looks at that master's children
for a while. A scan touches only amphorae that changed or are being looked at: stat-ing
1,000 pid files ten times a second cost the collector ~9 % of a core on an idle host. An
amphora whose directory cannot be watched (the host's inotify limit) is stat-ed at every
scan, and an overflowed event queue makes the next scan look at every amphora.

Reloads lose nothing and repeat nothing: the new worker starts with an empty ring and is
read from its start (no `-n`) as soon as a scan sees it; the old worker's connection stays
open and is read until haproxy closes it, when the old worker exits (an open `show events
-w` keeps it until `hard-stop-after`, 10 s). A connection that reaches a worker already
read (the new one not accepting yet) is closed before a line is taken, and tried again at
the next scan. A connection that drops while its worker lives is made again and skips what
was taken (nslb.accesslog.stream). When the collector starts, the workers already running
are read from now on (`-n`): what they logged while no collector ran is not written (as
with datagrams before), and nothing is written twice.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from inotify_simple import INotify, flags

from nslb.accesslog.records import UUID
from nslb.accesslog.stream import NotARing, RingStream
from nslb.amphora.haproxy_process import children, process_start_time
from nslb.fds import long_lived_socket
from nslb.render.haproxy import ACCESS_RING, stats_socket_path

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
# The most read from one connection in one round (10 ms, nslb.accesslog.collector): 100 MB/s
# of lines per worker, ~300,000 requests/s, and one busy ring cannot starve the others.
READ_MAX = 1024 * 1024
CONNECT_TIMEOUT = 0.5
# How long the master's children are looked at after its pid file changed (a reload: the
# master re-executes and rewrites it, then forks the new worker) or a connection ended.
LOOK = 10.0
# What a watch on an amphora's directory reports: a file written (the pid file, at start
# and at every reload) or renamed into it.
WATCHED = flags.CLOSE_WRITE | flags.MOVED_TO
PIDFILE = "haproxy.pid"


class Watch:
    """The selector data of the inotify descriptor (a ring connection's is a _Connection)."""


@dataclass
class _Connection:
    amphora_id: str
    sock: socket.socket
    stream: RingStream


@dataclass
class _Amphora:
    pidfile: str
    pidfile_stamp: int = 0
    master: int | None = None
    # workers whose ring this collector reads or has read, and whether it still does
    read: dict[int, bool] = field(default_factory=dict)
    # worker -> timestamp of its last line taken (for a connection made again)
    last: dict[int, bytes] = field(default_factory=dict)
    look_until: float = 0.0  # look at the master's children at each scan until then
    pending: bool = False  # a connection made, its `show info` not read yet
    watched: bool = False  # an inotify watch reports its pid file's changes


class RingFollower:
    def __init__(self, state_dir: Path, selector: selectors.BaseSelector,
                 take: Callable[[list[bytes]], None], ring: str = ACCESS_RING) -> None:
        """`take`: called with the lines (no newlines) of one worker's ring as they are
        read, in the collector's thread."""
        self.state_dir = Path(state_dir)
        self.selector = selector
        self.take = take
        self.ring = ring
        self.connects = 0
        self._amphorae: dict[str, _Amphora] = {}
        self._started = False
        self._listed = 0  # mtime of <state-dir>/amp when last listed
        self._notify = INotify(nonblocking=True)
        self._watches: dict[int, str] = {}  # watch descriptor -> amphora id
        self._changed: set[str] = set()  # amphorae whose pid file was written
        self._everything = True  # the next scan looks at every amphora (start, overflow)
        self.watch = Watch()
        selector.register(self._notify, selectors.EVENT_READ, self.watch)

    # --- discovery ------------------------------------------------------------------------

    def scan(self) -> None:
        """Connect to the workers not read yet; forget amphorae whose directory went."""
        first = not self._started
        self._started = True
        self._discover()
        now = time.monotonic()
        everything, self._everything = self._everything, False
        changed, self._changed = self._changed, set()
        for name, amp in self._amphorae.items():
            if everything or name in changed or not amp.watched or amp.look_until > now \
                    or amp.pending:
                self._scan_one(name, amp, first)

    def ready(self, data: object) -> None:
        """The selector found `data`'s descriptor ready: the watch, or a ring connection."""
        if data is self.watch:
            self._notified()
        elif isinstance(data, _Connection):
            self.read(data)

    def _notified(self) -> None:
        for event in self._notify.read(timeout=0):
            if event.mask & flags.Q_OVERFLOW:
                self._everything = True
            name = self._watches.get(event.wd)
            if event.mask & flags.IGNORED:  # the directory went: so did its watch
                self._watches.pop(event.wd, None)
            elif name is not None and event.name == PIDFILE:
                self._changed.add(name)

    def _discover(self) -> None:
        """List the amphora directories when one came or went (the directory's mtime): a
        new amphora must be found before its first reload, or its first worker's lines
        are out of reach (the stats socket passes to the next worker)."""
        amp = self.state_dir / "amp"
        try:
            stamp = amp.stat().st_mtime_ns
            if stamp == self._listed:
                return
            self._listed = stamp
            names = {n for n in os.listdir(amp) if UUID.fullmatch(n)}
        except FileNotFoundError:
            names = set()
        for gone in set(self._amphorae) - names:
            self._amphorae.pop(gone)  # its connections end on their own (EOF)
        for name in names - set(self._amphorae):
            self._amphorae[name] = self._found(name)

    def _found(self, name: str) -> _Amphora:
        """A new amphora, watched when the host allows, and looked at in the scan that found
        it: its pid file may have been written before the watch existed (no event comes)."""
        directory = self.state_dir / "amp" / name
        found = _Amphora(str(directory / PIDFILE))
        self._changed.add(name)
        try:
            self._watches[self._notify.add_watch(directory, WATCHED)] = name
            found.watched = True
        except OSError as exc:  # ENOSPC: max_user_watches; ENOENT: it went already
            log.debug("not watching %s: %s", directory, exc)
        return found

    def _scan_one(self, amphora_id: str, amp: _Amphora, first: bool) -> None:
        try:
            stamp = os.stat(amp.pidfile).st_mtime_ns
        except FileNotFoundError:
            return
        if stamp != amp.pidfile_stamp:
            amp.pidfile_stamp, amp.master = stamp, _read_pid(Path(amp.pidfile))
            _look(amp)
        if time.monotonic() > amp.look_until or amp.pending or amp.master is None:
            return
        worker = _newest(children(amp.master))
        if worker is None or amp.read.get(worker):
            return  # none yet, or read already: look again until look_until
        self._connect(amphora_id, amp, skip_old=first, after=amp.last.get(worker))

    def _connect(self, amphora_id: str, amp: _Amphora, skip_old: bool,
                 after: bytes | None) -> None:
        sock = long_lived_socket(socket.AF_UNIX, socket.SOCK_STREAM)  # one per amphora
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(str(stats_socket_path(self.state_dir, amphora_id)))
            tail = " -n" if skip_old else ""
            sock.sendall(f"show info;show events {self.ring} -w{tail}\n".encode())
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            log.debug("access log ring of amphora %s: %s", amphora_id, exc)
            return
        self.connects += 1
        amp.pending = True
        connection = _Connection(amphora_id, sock, RingStream(after=after))
        self.selector.register(sock, selectors.EVENT_READ, connection)

    # --- reading --------------------------------------------------------------------------

    def read(self, connection: _Connection) -> None:
        """Take what one connection has sent, until it has nothing more (or READ_MAX); called
        when the selector says it is ready. Reading it all matters: what stays in the
        socket holds haproxy's reader back in the ring, and a ring whose reader is a ring's
        size behind drops new lines without counting them (haproxy 2.6)."""
        for _ in range(READ_MAX // CHUNK):
            try:
                chunk = connection.sock.recv(CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._ended(connection)
                return
            if not self._feed(connection, chunk):
                return

    def _feed(self, connection: _Connection, chunk: bytes) -> bool:
        """Hand the chunk's lines to `take`. False when the connection was closed."""
        known = connection.stream.pid is not None
        try:
            lines = connection.stream.feed(chunk)
        except NotARing as exc:
            log.warning("access log ring of amphora %s: %s", connection.amphora_id, exc)
            self._close(connection)
            return False
        if not known and connection.stream.pid is not None and not self._admit(connection):
            return False
        if lines:
            self.take(lines)
        amp = self._amphorae.get(connection.amphora_id)
        if amp is not None and connection.stream.pid is not None \
                and connection.stream.last is not None:
            amp.last[connection.stream.pid] = connection.stream.last
        return True

    def _admit(self, connection: _Connection) -> bool:
        """Keep a connection whose worker is not read yet; close one that reached a worker
        being read (the new worker did not accept yet: try again at the next scan)."""
        amp = self._amphorae.get(connection.amphora_id)
        pid = connection.stream.pid
        assert pid is not None
        if amp is not None:
            amp.pending = False
        if amp is None or amp.read.get(pid):
            if amp is not None:
                _look(amp)
            self._close(connection)
            return False
        amp.read[pid] = True
        return True

    def _ended(self, connection: _Connection) -> None:
        """haproxy closed the connection: its worker exited, or the connection dropped
        (then the next scan connects again, past the last line taken)."""
        self._close(connection)
        amp = self._amphorae.get(connection.amphora_id)
        if amp is None:
            return
        pid = connection.stream.pid
        if pid is None:
            amp.pending = False
        elif amp.read.get(pid):
            amp.read[pid] = False
        _look(amp)
        # workers that are gone need no resume point
        for worker in [w for w, reading in amp.read.items() if not reading]:
            if not _alive(worker):
                amp.read.pop(worker)
                amp.last.pop(worker, None)

    def _close(self, connection: _Connection) -> None:
        self.selector.unregister(connection.sock)
        connection.sock.close()

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            if isinstance(key.data, _Connection):
                self._close(key.data)
        self.selector.unregister(self._notify)
        self._notify.close()


def _look(amp: _Amphora) -> None:
    amp.look_until = time.monotonic() + LOOK


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _newest(pids: list[int]) -> int | None:
    """The most recently started of `pids` that still runs: the master's current worker."""
    started = []
    for pid in pids:
        try:
            started.append((process_start_time(pid), pid))
        except (OSError, IndexError, ValueError):
            continue
    return max(started)[1] if started else None


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()
