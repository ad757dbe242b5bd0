"""How every test tier starts nslb: one `nslb serve` subprocess class, and the environment
of every nslb process a test starts.

A developer's shell often has NSLB_DB, NSLB_CONFIG or NSLB_STATE_DIR set (README: settings
come from defaults, a TOML file, NSLB_* variables, then flags). A server or CLI a test starts
must read only the flags the test gives it, or an integration test would write into that
developer's database; so `nslb_env()` hands it the caller's environment less NSLB_*.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

NSLB_PREFIX = "NSLB_"


def nslb_env(*also_strip: str, environ: Mapping[str, str] | None = None,
             **extra: str) -> dict[str, str]:
    """`environ` (default: this process's) without NSLB_* and the `also_strip` prefixes
    (the clients' OS_*, ANSIBLE_*...), plus `extra` (which may set an NSLB_* on purpose)."""
    prefixes = (NSLB_PREFIX, *also_strip)
    source = os.environ if environ is None else environ
    return {**{k: v for k, v in source.items() if not k.startswith(prefixes)}, **extra}


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One `nslb serve` subprocess on a private state directory and loopback port: started
    with `nslb_env()`, awaited until `GET /` answers 200, killed (SIGKILL, like a crash) or
    stopped (SIGTERM), and restartable on the same state directory and port.

    Subclasses give `command()`; the log of every start goes to `<state_dir>/serve.log`."""

    # A server in its own session ignores the Ctrl-C meant for pytest; its fixture stops it.
    new_session = False

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        self.state_dir = state_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60) -> None:
        assert not self.running, "already running"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=nslb_env(),
                                         start_new_session=self.new_session)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nslb serve exited {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"nslb serve did not answer within {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL, like a crash or the OOM killer: no cleanup runs in the server."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (the server's own shutdown), falling back to SIGKILL."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
