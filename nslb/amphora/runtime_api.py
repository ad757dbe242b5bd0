"""Talking to haproxy's CLI sockets, and reading what it says.

The stats socket (level admin) serves `show stat` / `show info` and runtime changes such as
`set weight`; the master socket (-S) serves `show proc` and `reload`. Parsing is kept pure so
it can be unit tested without haproxy.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from nslb.amphora.base import ListenerCounters

SERVER_LINE = re.compile(r"^\s*server\s+(\S+)\s+\S+\s+(.*)$")
BACKEND_LINE = re.compile(r"^backend\s+(\S+)")
WEIGHT = re.compile(r"\bweight\s+(\d+)")


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


def _int(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0


def summarise_stat(rows: list[dict[str, str]]) -> StatSummary:
    """Frontend status and counters per listener id, backend status per pool id, server
    status per member id."""
    summary = StatSummary(listeners={}, pools={}, members={}, counters={})
    for row in rows:
        proxy, name = row.get("pxname", ""), row.get("svname", "")
        if name == "FRONTEND":
            summary.listeners[proxy] = normalise_status(row.get("status", ""))
            summary.counters[proxy] = ListenerCounters(
                bytes_in=_int(row, "bin"), bytes_out=_int(row, "bout"),
                active_connections=_int(row, "scur"), total_connections=_int(row, "stot"),
                request_errors=_int(row, "ereq"))
        elif name == "BACKEND":
            summary.pools[proxy] = normalise_status(row.get("status", ""))
        elif row.get("type") == "2":
            summary.members[name] = normalise_status(row.get("status", ""))
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


def server_settings(config: str) -> dict[ServerKey, tuple[int, bool]]:
    """(backend, server) -> (weight, disabled) of every server line in a haproxy.cfg."""
    found: dict[ServerKey, tuple[int, bool]] = {}
    backend = ""
    for line in config.splitlines():
        if match := BACKEND_LINE.match(line):
            backend = match.group(1)
        elif not line.startswith(" "):
            backend = ""
        elif backend and (match := SERVER_LINE.match(line)):
            options = match.group(2)
            weight = WEIGHT.search(options)
            found[(backend, match.group(1))] = (int(weight.group(1)) if weight else 1,
                                                " disabled" in f" {options}")
    return found


def _without_runtime_fields(config: str) -> str:
    """The config with what the runtime API can change (weight, disabled) blanked out."""
    out = []
    for line in config.splitlines():
        if SERVER_LINE.match(line):
            line = WEIGHT.sub("weight _", line).replace(" disabled", "")
        out.append(line)
    return "\n".join(out)


def runtime_commands(old: str, new: str) -> list[str] | None:
    """CLI commands turning `old` into `new`, or None when a reload is needed.

    Only member weight and admin state can change at runtime; the generation comment line is
    ignored since it changes with every snapshot.
    """
    strip = lambda text: _without_runtime_fields(  # noqa: E731
        "\n".join(line for line in text.splitlines() if not line.startswith("# ")))
    if strip(old) != strip(new):
        return None
    before, after = server_settings(old), server_settings(new)
    commands = []
    for (backend, server), (weight, disabled) in sorted(after.items()):
        old_weight, old_disabled = before[(backend, server)]
        if weight != old_weight:
            commands.append(f"set weight {backend}/{server} {weight}")
        if disabled != old_disabled:
            state = "maint" if disabled else "ready"
            commands.append(f"set server {backend}/{server} state {state}")
    return commands
