"""One haproxy per amphora, in master-worker mode inside the amphora's namespace.

The master is daemonised (-D, its own session), so neither a crash nor a kill -9 of nslb
stops traffic; nslb finds it again through the pid file. Reloads go through the master CLI
and are verified, because haproxy 2.6's `reload` answers before the new worker exists.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

from nslb.amphora import runtime_api

HAPROXY = "/usr/sbin/haproxy"
# haproxy parses its configuration before it could drop privileges, so it never runs as
# root: it starts as this account (Debian's haproxy package creates it), which cannot read
# nslb's database, keys or clouds.yaml (all 0600/0700 root). Binding ports below 1024
# needs no capability: the namespace sets net.ipv4.ip_unprivileged_port_start=0.
HAPROXY_USER = "haproxy"
POLL = 0.01


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
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if self._is_ours(pid) else None

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
        """Master and workers, found by the amphora-unique config path on the cmdline."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and self._is_ours(int(entry)):
                pids.append(int(entry))
        return pids

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
        cmd = ["ip", "netns", "exec", self.namespace, *self.as_user(), self.haproxy, "-W", "-D",
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
                   "haproxy did not start serving")

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

    def stop(self, timeout: float = 3.0, drain: bool = False) -> None:
        """Stop master and workers: SIGTERM (or, with `drain`, SIGUSR1: stop listening and
        finish the connections in flight), then SIGKILL what is left after `timeout`."""
        pids = self.all_pids()
        for pid in pids:
            _signal(pid, signal.SIGUSR1 if drain else signal.SIGTERM)
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
            return runtime_api.command(self.master_sock, f"@1 {line}", timeout=timeout)

    def worker_start_time(self) -> float:
        """Wall-clock start of the current worker; changes whenever counters were reset."""
        info = runtime_api.parse_info(self.worker_command("show info"))
        return process_start_time(int(info.get("Pid", "0")))

    def _stats_answers(self) -> bool:
        try:
            return "Pid:" in runtime_api.command(self.stats_sock, "show info", timeout=0.5)
        except OSError:
            return False

    @staticmethod
    def _wait(predicate: object, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(predicate) and predicate():
                return
            time.sleep(POLL)
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


def process_start_time(pid: int) -> float:
    """Start time of a process as a Unix timestamp (from /proc, jiffy precision)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    start_ticks = int(fields[19])
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime"))
    return boot + start_ticks / os.sysconf("SC_CLK_TCK")
