"""keepalived of one ACTIVE_STANDBY amphora, running VRRP only (-P) inside its namespace.

It runs as root (it adds the VIP and sends GARPs), so its configuration is rendered from
guarded values only (nslb.render.keepalived). It is started as a daemon in its own session,
so, like haproxy, it survives nslb; nslb finds it again through its pid file. A reload is
SIGHUP. A notify script keeps `vrrp.state` current (MASTER/BACKUP/FAULT), which is how the
health loop learns which amphora holds the VIP without entering the namespace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

KEEPALIVED = "/usr/sbin/keepalived"
POLL = 0.01
# Lines `keepalived -t` prints that are not errors when checked outside the namespace.
OUTSIDE_NAMESPACE = ("doesn't exist", "Non-existent interface")


class KeepalivedProcess:
    def __init__(self, directory: Path, namespace: str, keepalived: str = KEEPALIVED) -> None:
        self.dir = directory
        self.namespace = namespace
        self.keepalived = keepalived
        self.config = directory / "keepalived.conf"
        self.pidfile = directory / "keepalived.pid"
        self.vrrp_pidfile = directory / "keepalived-vrrp.pid"
        self.statefile = directory / "vrrp.state"

    def check(self, path: Path) -> str | None:
        """keepalived's complaint about the config at `path`, or None when it is valid."""
        result = subprocess.run([self.keepalived, "-t", "-f", str(path)], capture_output=True,
                                text=True, timeout=30, check=False)
        complaints = [line for line in (result.stdout + result.stderr).splitlines()
                      if line.strip() and not any(s in line for s in OUTSIDE_NAMESPACE)]
        return "; ".join(complaints) or None

    def pid(self) -> int | None:
        """The running keepalived parent of this amphora, else None."""
        try:
            pid = int(self.pidfile.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.config).encode() in cmdline and _alive(pid) else None

    def start(self, timeout: float = 5.0) -> None:
        self.statefile.unlink(missing_ok=True)
        cmd = ["ip", "netns", "exec", self.namespace, self.keepalived, "--vrrp",
               "--log-detail", "-f", str(self.config), "-p", str(self.pidfile),
               "-r", str(self.vrrp_pidfile)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False,
                                start_new_session=True)
        if result.returncode != 0:
            raise RuntimeError((result.stderr + result.stdout).strip()
                               or f"keepalived exited {result.returncode}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is not None:
                return
            time.sleep(POLL)
        raise RuntimeError("keepalived did not start")

    def reload(self) -> None:
        pid = self.pid()
        if pid is None:
            raise RuntimeError("keepalived is not running")
        os.kill(pid, signal.SIGHUP)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop keepalived (it withdraws the VIP on its way out)."""
        pids = [p for p in (self.pid(), _pid_of(self.vrrp_pidfile)) if p is not None]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(POLL)
        for pid in pids:
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.statefile.unlink(missing_ok=True)

    def state(self) -> str:
        """MASTER, BACKUP or FAULT as the notify script last wrote it; STOPPED when
        keepalived is not running; "" before its first transition."""
        if self.pid() is None:
            return "STOPPED"
        try:
            return self.statefile.read_text().strip()
        except OSError:
            return ""


def _pid_of(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
