"""A real `nslb serve` process (the installed entry point) for black-box tests.

`NslbServer` starts the console script on a free loopback port with the noop driver and a
private state directory, waits for `GET /` to answer, and can be killed with SIGKILL and
started again on the same state directory. The fixtures in conftest.py stop the process and remove
the temporary directory whatever the outcome of the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"
NSLB = Path(sys.executable).with_name("nslb")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NslbServer:
    """One `nslb serve` subprocess; restartable on the same state directory and port."""

    def __init__(self, state_dir: Path, *, db_url: str | None = None) -> None:
        self.state_dir = state_dir
        self.db_url = db_url
        self.port = free_port()
        # Bridge names must be <= 15 chars and unique per test (the noop driver never
        # creates them, but a collision would be confusing if the driver were switched).
        self.bridge = f"nslbc{uuid.uuid4().hex[:8]}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = state_dir / "serve.log"
        self.starts = 0

    def command(self) -> list[str]:
        cmd = [str(NSLB), "serve", "--amphora-driver", "noop",
               "--state-dir", str(self.state_dir), "--bind", f"127.0.0.1:{self.port}",
               "--physnet", f"physnet1:{self.bridge}", "--auth", "noauth",
               "--log-level", "WARNING"]
        if self.db_url:
            cmd += ["--db", self.db_url]
        return cmd

    def start(self, timeout: float = 40.0) -> None:
        assert self.proc is None, "already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith("NSLB_")}
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        finally:
            log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nslb serve exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"nslb serve did not answer within {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, like a crash or the OOM killer: no cleanup runs in the server."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, falling back to SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
