"""One haproxy per amphora, in master-worker mode inside the amphora's namespace.

The master is daemonised (-D, its own session), so neither a crash nor a kill -9 of nslb
stops traffic; nslb finds it again through the pid file. Reloads go through the master CLI
and are verified, because haproxy 2.6's `reload` answers before the new worker exists.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import signal
import subprocess
import time
from pathlib import Path

from nslb.amphora import runtime_api
from nslb.amphora.base import MEMBER_COLUMNS, ListenerCounters, Traffic
from nslb.netns.namespaces import run_in

HAPROXY = "/usr/sbin/haproxy"
# The `show stat` columns the health loop reads; all of them come before the first column
# that may hold free text (check descriptions), so a line split at commas up to the last of
# them is exact.
STAT_COLUMNS = ("pxname", "svname", "scur", "stot", "bin", "bout", "ereq", "econ", "eresp",
                "status", "type", "hrsp_5xx", "req_tot")
INFO_PID = re.compile(r"^Pid: (\d+)$", re.MULTILINE)
# haproxy parses its configuration before it could drop privileges, so it never runs as
# root: it starts as this account (Debian's haproxy package creates it), which cannot read
# nslb's database, keys or clouds.yaml (all 0600/0700 root). Binding ports below 1024
# needs no capability: the namespace sets net.ipv4.ip_unprivileged_port_start=0.
HAPROXY_USER = "haproxy"
POLL = 0.01
# A new haproxy is looked at more often: its start is on a new LB's way to serving, and
# it usually answers within a few tens of ms (each look is two CLI round trips).
START_POLL = 0.003


class HaproxyProcess:
    """Paths and process control of the haproxy of one amphora; no state besides paths."""

    def __init__(self, directory: Path, namespace: str, haproxy: str = HAPROXY,
                 user: str | None = HAPROXY_USER, aliases: tuple[Path, ...] = ()) -> None:
        """`aliases`: other spellings of the config path a running master may have on its
        command line (one started by an older nslb, before the amphora layout)."""
        self.dir = directory
        self.namespace = namespace
        self.haproxy = haproxy
        self.user = user
        self.config = directory / "haproxy.cfg"
        self.lkg = directory / "haproxy.cfg.lkg"
        self.pidfile = directory / "haproxy.pid"
        self.master_sock = directory / "master.sock"
        self.stats_sock = directory / "stats.sock"
        self._names = tuple(str(p).encode() for p in (self.config, *aliases))

    # --- privileges -----------------------------------------------------------------------

    def as_user(self) -> list[str]:
        """The command prefix that runs haproxy as its unprivileged account (when nslb is
        root; a non-root nslb runs haproxy as itself)."""
        if self.user is None or os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--clear-groups",
                "--"]

    def prepare_dir(self) -> None:
        """The LB's directory, owned by haproxy's account (its pid file and sockets go
        there) and closed to everyone else; nslb (root) writes the configs into it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None and os.geteuid() == 0:
            account = pwd.getpwnam(self.user)
            stat = self.dir.stat()
            if (stat.st_uid, stat.st_gid) != (account.pw_uid, account.pw_gid):
                os.chown(self.dir, account.pw_uid, account.pw_gid)
        if self.dir.stat().st_mode & 0o777 != 0o700:
            self.dir.chmod(0o700)

    # --- validation -----------------------------------------------------------------------

    def check(self, path: Path) -> str | None:
        """haproxy's complaint about the config at `path`, or None when it is valid.
        Checked as haproxy's account too: a check may open files the config names."""
        result = subprocess.run([*self.as_user(), self.haproxy, "-c", "-f", str(path)],
                                capture_output=True, text=True, timeout=30, check=False)
        if result.returncode == 0:
            return None
        output = (result.stderr + result.stdout).splitlines()
        alerts = [line.split(" : ", 1)[-1].strip() for line in output if "[ALERT]" in line]
        return "; ".join(alerts) or f"haproxy -c exited {result.returncode}"

    # --- discovery ------------------------------------------------------------------------

    def master_pid(self) -> int | None:
        """The running master of this LB (pid file checked against /proc), else None."""
        pid = self._pid_from_file()
        return pid if pid is not None and self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return any(name in cmdline for name in self._names)

    def in_namespace(self, pid: int) -> bool:
        """False when the process lives in another namespace (e.g. after `ip netns del`)."""
        try:
            return (os.stat(f"/proc/{pid}/ns/net").st_ino
                    == os.stat(f"/run/netns/{self.namespace}").st_ino)
        except OSError:
            return False

    def all_pids(self) -> list[int]:
        """Master and workers (old ones still draining included): the master named by the
        pid file, or else by the master CLI's `show proc`, and its children, each checked
        by the amphora-unique config path on its command line. No scan of /proc: at 1,000
        amphorae a full scan took 0.8 s, and a worker never outlives its master (it exits
        when the master's pipe closes)."""
        masters = [pid for pid in (self._pid_from_file(), self._pid_from_cli())
                   if pid is not None and self._is_ours(pid)]
        pids: list[int] = []
        for master in dict.fromkeys(masters):
            pids.append(master)
            pids.extend(child for child in children(master) if self._is_ours(child))
        return pids

    def has_workers(self, master: int) -> bool:
        """True when the master has a live worker (a child that is not a zombie)."""
        return any(_alive(child) for child in children(master))

    def _pid_from_file(self) -> int | None:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def _pid_from_cli(self) -> int | None:
        """The master's pid as its CLI reports it, when its socket answers (a master whose
        pid file was lost); None at once when nothing listens there."""
        if not self.master_sock.exists():
            return None
        try:
            return master_pid_of(runtime_api.command(self.master_sock, "show proc",
                                                     timeout=0.5))
        except OSError:
            return None

    def show_proc(self) -> str:
        return runtime_api.command(self.master_sock, "show proc")

    def current_workers(self) -> list[int]:
        try:
            return runtime_api.worker_pids(runtime_api.command(self.master_sock, "show proc",
                                                               timeout=0.5))
        except OSError:
            return []

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> None:
        """Start the master in the namespace and wait until a worker serves the stats socket."""
        for stale in (self.master_sock, self.stats_sock):
            stale.unlink(missing_ok=True)
        cmd = [*run_in(self.namespace), *self.as_user(), self.haproxy, "-W", "-D",
               "-S", f"{self.master_sock},mode,600", "-p", str(self.pidfile),
               "-f", str(self.config)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False,
                                start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError((result.stderr + result.stdout).strip()
                               or f"haproxy exited {result.returncode}")
        # The worker answers on the stats socket before the master opens its CLI; both are
        # needed (observe() and reload()), so wait for both.
        self._wait(lambda: self._stats_answers() and bool(self.current_workers()), timeout,
                   "haproxy did not start serving", poll=START_POLL)

    def reload(self, timeout: float = 5.0) -> None:
        """Reload through the master and wait for a new worker; raise if it never comes."""
        before = self.show_proc()
        old_workers = set(runtime_api.worker_pids(before))
        failed = runtime_api.master_failed_reloads(before)
        with contextlib.suppress(OSError):  # the master re-executes and may drop the connection
            runtime_api.command(self.master_sock, "reload")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                now = self.show_proc()
            except OSError:
                time.sleep(POLL)
                continue
            if runtime_api.master_failed_reloads(now) > failed:
                raise RuntimeError("haproxy rejected the new configuration on reload")
            workers = set(runtime_api.worker_pids(now))
            if workers and not workers & old_workers:
                return
            time.sleep(POLL)
        raise RuntimeError("no new haproxy worker appeared after reload")

    def stop(self, timeout: float = 3.0) -> None:
        """Stop master and workers: SIGTERM, then SIGKILL what is left after `timeout`."""
        pids = self.all_pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(POLL)
        for pid in pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)

    def worker_command(self, line: str, timeout: float = 2.0) -> str:
        """A runtime API command for the current worker: over its stats socket, or, when
        that socket is gone (a deleted stats.sock is never re-created by a reload, because
        the new worker inherits the bound descriptor), through the master CLI's `@1` prefix.
        Raises OSError when neither answers."""
        try:
            return runtime_api.command(self.stats_sock, line, timeout=timeout)
        except OSError:
            # The master CLI routes each `;`-separated command by its own prefix.
            routed = ";".join(f"@1 {part.strip()}" for part in line.split(";"))
            return runtime_api.command(self.master_sock, routed, timeout=timeout)

    def worker_start_time(self) -> float:
        """Wall-clock start of the current worker; changes whenever counters were reset."""
        info = runtime_api.parse_info(self.worker_command("show info"))
        return process_start_time(int(info.get("Pid", "0")))

    def worker_pid(self) -> int:
        """The pid of the worker that answers the stats socket (`show info`)."""
        match = INFO_PID.search(self.worker_command("show info"))
        if match is None:
            raise OSError("haproxy answered `show info` without its pid")
        return int(match.group(1))

    def _stats_answers(self) -> bool:
        try:
            return "Pid:" in runtime_api.command(self.stats_sock, "show info", timeout=0.5)
        except OSError:
            return False

    @staticmethod
    def _wait(predicate: object, timeout: float, message: str, poll: float = POLL) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return
            time.sleep(poll)
        raise RuntimeError(message)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    """Child processes of `pid` (its main thread's children; haproxy forks from it)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def master_pid_of(show_proc: str) -> int | None:
    """The master's pid in the answer to the master CLI's `show proc`."""
    for line in show_proc.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "master" and fields[0].isdigit():
            return int(fields[0])
    return None


@functools.cache
def _boot_time() -> float:
    return next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime"))


def process_start_time(pid: int) -> float:
    """Start time of a process as a Unix timestamp (from /proc, jiffy precision)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    start_ticks = int(fields[19])
    return _boot_time() + start_ticks / os.sysconf("SC_CLK_TCK")


def summarise_stat(text: str) -> runtime_api.StatSummary:
    """What runtime_api.summarise_stat(parse_stat(text)) gives, without building a dict per
    row: the health loop reads every amphora every second, and csv.DictReader over ~90
    columns was a third of that cost."""
    summary = runtime_api.StatSummary(listeners={}, pools={}, members={}, counters={})
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        return summary
    columns = _columns(lines[0])
    if columns is None:  # not the stats haproxy 2.x writes: the slow, general way
        return runtime_api.summarise_stat(runtime_api.parse_stat(text))
    at, last, member_at = columns
    for line in lines[1:]:
        row = line.split(",", last)
        if len(row) <= last - 1:
            continue
        proxy, name = row[at["pxname"]], row[at["svname"]]
        status = runtime_api.normalise_status(row[at["status"]])
        if name == "FRONTEND":
            summary.listeners[proxy] = status
            summary.counters[proxy] = ListenerCounters(
                bytes_in=_number(row[at["bin"]]), bytes_out=_number(row[at["bout"]]),
                active_connections=_number(row[at["scur"]]),
                total_connections=_number(row[at["stot"]]),
                request_errors=_number(row[at["ereq"]]),
                requests=_number(row[at["req_tot"]]),
                responses_5xx=_number(row[at["hrsp_5xx"]]))
            summary.traffic[proxy] = Traffic(
                runtime_api.requests_of(row[at["req_tot"]], _number(row[at["stot"]])),
                _number(row[at["scur"]]),
                _number(row[at["ereq"]]) + _number(row[at["hrsp_5xx"]]))
        elif name == "BACKEND":
            summary.pools[proxy] = status
        elif row[at["type"]] == "2":
            summary.members[name] = status
            summary.traffic[name] = _server_traffic(row, at)
            summary.member_stats[name] = tuple(map(row.__getitem__, member_at))
    return summary


@functools.lru_cache(maxsize=16)
def _columns(header: str) -> tuple[dict[str, int], int, tuple[int, ...]] | None:
    """Where each column summarise_stat reads is in rows under this header line, how many
    fields to split a row into, and the member columns' positions (None: a column is
    missing). Every amphora of one haproxy version writes the same header."""
    names = header[2:].split(",")
    try:
        at = {name: names.index(name) for name in STAT_COLUMNS}
    except ValueError:
        return None
    return at, max(at.values()) + 1, tuple(at[column] for column in MEMBER_COLUMNS)


def _server_traffic(row: list[str], at: dict[str, int]) -> Traffic:
    errors = sum(_number(row[at[k]]) for k in ("econ", "eresp", "hrsp_5xx"))
    return Traffic(runtime_api.requests_of(row[at["req_tot"]], _number(row[at["stot"]])),
                   _number(row[at["scur"]]), errors)


def _number(value: str) -> int:
    return int(value) if value.isdigit() else 0
