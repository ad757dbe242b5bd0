"""Talking to haproxy's CLI sockets, and reading what it says.

The stats socket (level admin) serves `show stat` / `show info` and runtime changes such as
`set weight`; the master socket (-S) serves `show proc` and `reload`. Parsing is kept pure so
it can be unit tested without haproxy.
"""

from __future__ import annotations

import csv
import io
import re
import selectors
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from nslb.amphora.base import MEMBER_COLUMNS, ListenerCounters, Traffic

SERVER_FULL = re.compile(r"^\s+server\s+(\S+)\s+(\S+)\s*(.*)$")
BACKEND_LINE = re.compile(r"^backend\s+(\S+)")
WEIGHT = re.compile(r"\bweight\s+(\d+)")
K = TypeVar("K")


def command(path: Path | str, line: str, timeout: float = 2.0) -> str:
    """Send one CLI command and return the whole answer (haproxy closes after answering)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)  # the master CLI only closes once our input has ended
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def commands(paths: dict[K, Path | str], line: str, timeout: float = 2.0) -> dict[K, str]:
    """command() of one line at many sockets at once, from one thread: every line is sent
    before any answer is read, and the answers are read as they come (the health loop
    asks hundreds of amphorae a second; a thread per question cost a third more CPU than
    the questions). key -> answer; a socket that refused, failed or did not finish within
    `timeout` has no answer (the caller asks it again by itself, with command())."""
    data = line.encode() + b"\n"
    chunks: dict[K, list[bytes]] = {}
    out: dict[K, str] = {}
    with selectors.DefaultSelector() as selector:
        try:
            for key, path in paths.items():
                sent = _sent(path, data)
                if sent is not None:
                    chunks[key] = []
                    selector.register(sent, selectors.EVENT_READ, key)
            deadline = time.monotonic() + timeout
            while selector.get_map() and (left := deadline - time.monotonic()) > 0:
                for ready, _ in selector.select(left):
                    key, sock = ready.data, ready.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        got = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        got = None
                    if got:
                        chunks[key].append(got)
                        continue
                    selector.unregister(sock)
                    sock.close()
                    if got is not None:
                        out[key] = b"".join(chunks[key]).decode(errors="replace")
        finally:
            for ready in list(selector.get_map().values()):
                ready.fileobj.close()  # type: ignore[union-attr]
    return out


def _sent(path: Path | str, data: bytes) -> socket.socket | None:
    """A non-blocking connection to `path` that `data` was sent on, its writing side shut
    (haproxy's master CLI answers only then); None when that failed (nobody listens, or
    its backlog is full)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.connect(str(path))
        sock.send(data)  # a CLI line fits the socket's buffer: sent whole or not at all
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        sock.close()
        return None
    return sock


def parse_stat(text: str) -> list[dict[str, str]]:
    """Rows of `show stat` CSV as dicts keyed by the header names (pxname, svname, status...)."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        return []
    lines[0] = lines[0][2:]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def normalise_status(status: str) -> str:
    """"UP 1/3" (going down) -> UP, "DOWN 1/2" (going up) -> DOWN, "MAINT (via x)" -> MAINT."""
    if status == "no check":
        return status
    word = status.split(" ", 1)[0].split("(", 1)[0]
    return word or status


@dataclass
class StatSummary:
    listeners: dict[str, str]
    pools: dict[str, str]
    members: dict[str, str]
    counters: dict[str, ListenerCounters]
    traffic: dict[str, Traffic] = field(default_factory=dict)
    member_stats: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0


def requests_of(req_tot: str, stot: int) -> int:
    """HTTP requests of a frontend or server; a TCP one has no req_tot (empty), and each
    of its connections is one request."""
    return int(req_tot) if req_tot.isdigit() else stot


def summarise_stat(rows: list[dict[str, str]]) -> StatSummary:
    """Frontend status and counters per listener id, backend status per pool id, server
    status per member id, Traffic per listener and member id."""
    summary = StatSummary(listeners={}, pools={}, members={}, counters={})
    for row in rows:
        proxy, name = row.get("pxname", ""), row.get("svname", "")
        requests = requests_of(row.get("req_tot") or "", _int(row, "stot"))
        if name == "FRONTEND":
            summary.listeners[proxy] = normalise_status(row.get("status", ""))
            summary.counters[proxy] = ListenerCounters(
                bytes_in=_int(row, "bin"), bytes_out=_int(row, "bout"),
                active_connections=_int(row, "scur"), total_connections=_int(row, "stot"),
                request_errors=_int(row, "ereq"), requests=_int(row, "req_tot"),
                responses_5xx=_int(row, "hrsp_5xx"))
            summary.traffic[proxy] = Traffic(
                requests, _int(row, "scur"), _int(row, "ereq") + _int(row, "hrsp_5xx"))
        elif name == "BACKEND":
            summary.pools[proxy] = normalise_status(row.get("status", ""))
        elif row.get("type") == "2":
            summary.members[name] = normalise_status(row.get("status", ""))
            summary.traffic[name] = Traffic(
                requests, _int(row, "scur"),
                _int(row, "econ") + _int(row, "eresp") + _int(row, "hrsp_5xx"))
            summary.member_stats[name] = tuple(row.get(c) or "" for c in MEMBER_COLUMNS)
    return summary


def parse_info(text: str) -> dict[str, str]:
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def worker_pids(show_proc: str) -> list[int]:
    """Pids of the current (not old, still-draining) workers in master CLI `show proc`."""
    pids = []
    for line in show_proc.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit() and parts[1] == "worker" and parts[2] == "0":
            pids.append(int(parts[0]))
    return pids


def master_failed_reloads(show_proc: str) -> int:
    """The `[failed: N]` counter of the master line (reloads whose config did not load)."""
    match = re.search(r"master\s+\d+\s+\[failed:\s*(\d+)\]", show_proc)
    return int(match.group(1)) if match else 0


ServerKey = tuple[str, str]
# What HAProxy answers when a runtime change worked (anything else means: reload instead).
QUIET = ("",)
ADDED = ("New server registered.",)
ANY: tuple[str, ...] = ()  # best effort: any answer will do


@dataclass(frozen=True)
class RuntimeCommand:
    """One CLI command and the answers that mean it worked (ANY: whatever it answers)."""

    line: str
    ok: tuple[str, ...] = QUIET

    def succeeded(self, answer: str) -> bool:
        return self.ok is ANY or answer.strip() in self.ok


@dataclass(frozen=True)
class ServerLine:
    endpoint: str
    options: str

    @property
    def weight(self) -> int:
        match = WEIGHT.search(self.options)
        return int(match.group(1)) if match else 1

    @property
    def disabled(self) -> bool:
        return " disabled" in f" {self.options}"

    @property
    def checked(self) -> bool:
        return " check" in f" {self.options}"

    def fixed(self) -> str:
        """The line without what the runtime API can change (weight, admin state)."""
        return f"{self.endpoint} " + WEIGHT.sub("weight _", self.options).replace(" disabled",
                                                                                 "")


@dataclass
class Backends:
    """The servers of each backend of a haproxy.cfg, and what else each backend says."""

    servers: dict[str, dict[str, ServerLine]]
    rest: str  # the whole config without its server lines

    def dynamic(self, backend: str) -> bool:
        """Whether servers can be added and deleted at runtime in this backend: HAProxy
        2.6 refuses them with a hash-based balance and with the `cookie` server option."""
        if re.search(rf"^backend {re.escape(backend)}\n(    .*\n)*?    balance source\b",
                     self.rest + "\n", re.MULTILINE):
            return False
        return not any(" cookie " in f" {s.options} " for s in self.servers[backend].values())


def parse_backends(config: str) -> Backends:
    servers: dict[str, dict[str, ServerLine]] = {}
    rest = []
    backend = ""
    for line in config.splitlines():
        if match := BACKEND_LINE.match(line):
            backend = match.group(1)
            servers.setdefault(backend, {})
        elif not line.startswith(" "):
            backend = ""
        if backend and (match := SERVER_FULL.match(line)):
            servers[backend][match.group(1)] = ServerLine(match.group(2), match.group(3))
            continue
        rest.append(line)
    return Backends(servers, "\n".join(rest))


def server_settings(config: str) -> dict[ServerKey, tuple[int, bool]]:
    """(backend, server) -> (weight, disabled) of every server line in a haproxy.cfg."""
    return {(b, name): (line.weight, line.disabled)
            for b, lines in parse_backends(config).servers.items()
            for name, line in lines.items()}


def runtime_commands(old: str, new: str) -> list[RuntimeCommand] | None:
    """CLI commands turning the running `old` config into `new`, or None when a reload is
    needed. Member weight and admin state change at runtime; members are added (`add
    server`) and removed (maintenance, then `del server`) at runtime where HAProxy allows
    dynamic servers. Everything else (and a comment line) must be identical."""
    before, after = parse_backends(old), parse_backends(new)
    if before.rest != after.rest:
        return None
    commands: list[RuntimeCommand] = []
    for backend in sorted(after.servers):
        was, now = before.servers.get(backend, {}), after.servers[backend]
        if set(was) != set(now) and not (before.dynamic(backend) and after.dynamic(backend)):
            return None
        for name in sorted(set(was) - set(now)):
            # In maintenance the server takes no new request, which is what removing it
            # means; `del server` then only tidies up and is refused while connections
            # (kept-alive ones included) are still attached, so its answer does not matter:
            # such a server stays in maintenance until the next reload.
            commands += [RuntimeCommand(f"disable server {backend}/{name}"),
                         RuntimeCommand(f"del server {backend}/{name}", ANY)]
        for name in sorted(now):
            line = now[name]
            if name not in was:
                commands += _add(backend, name, line)
            elif was[name].fixed() != line.fixed():
                return None
            else:
                commands += _changes(backend, name, was[name], line)
    return commands


def _add(backend: str, name: str, line: ServerLine) -> list[RuntimeCommand]:
    """A dynamic server starts in maintenance with its checks off."""
    out = [RuntimeCommand(f"add server {backend}/{name} {line.endpoint} {line.options}",
                          ADDED)]
    if not line.disabled:
        out.append(RuntimeCommand(f"enable server {backend}/{name}"))
    if line.checked:
        out.append(RuntimeCommand(f"enable health {backend}/{name}"))
    return out


def _changes(backend: str, name: str, was: ServerLine, now: ServerLine) -> list[RuntimeCommand]:
    out = []
    if now.weight != was.weight:
        out.append(RuntimeCommand(f"set weight {backend}/{name} {now.weight}"))
    if now.disabled != was.disabled:
        state = "maint" if now.disabled else "ready"
        out.append(RuntimeCommand(f"set server {backend}/{name} state {state}"))
    return out
