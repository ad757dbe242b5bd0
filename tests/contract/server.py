"""A real `nslb serve` process (the installed entry point) for black-box tests.

`NslbServer` starts the console script on a free loopback port with the noop driver and a
private state directory (tests/launcher.py: the environment less NSLB_*, the wait for
`GET /`, SIGKILL and restart on the same state directory). The fixtures in conftest.py stop
the process and remove the temporary directory whatever the outcome of the test.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from tests.launcher import ServeProcess, free_port

__all__ = ["NSLB", "PROJECT", "NslbServer", "free_port", "running"]

PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"
NSLB = Path(sys.executable).with_name("nslb")


class NslbServer(ServeProcess):
    """One `nslb serve` subprocess; restartable on the same state directory and port."""

    new_session = True

    def __init__(self, state_dir: Path, *, db_url: str | None = None) -> None:
        super().__init__(state_dir)
        self.db_url = db_url
        # Bridge names must be <= 15 chars and unique per test (the noop driver never
        # creates them, but a collision would be confusing if the driver were switched).
        self.bridge = f"nslbc{uuid.uuid4().hex[:8]}"
        self.log_path = self.log

    def command(self) -> list[str]:
        cmd = [str(NSLB), "serve", "--amphora-driver", "noop",
               "--state-dir", str(self.state_dir), "--bind", f"127.0.0.1:{self.port}",
               "--physnet", f"physnet1:{self.bridge}", "--auth", "noauth",
               "--log-level", "WARNING"]
        if self.db_url:
            cmd += ["--db", self.db_url]
        return cmd

    def start(self, timeout: float = 40.0) -> None:
        super().start(timeout)

    def log_tail(self, lines: int = 40) -> str:
        return self.tail(lines)


S = TypeVar("S", bound=NslbServer)


@contextmanager
def running(server_class: Callable[[Path], S], prefix: str, tail: int = 60) -> Iterator[S]:
    """A started server of `server_class` on a new state directory /tmp/<prefix>...; killed
    and removed afterwards, its log printed (pytest shows it when the test failed)."""
    state = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    server = server_class(state)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        print(f"--- nslb serve log ({server.starts} starts) ---\n{server.tail(tail)}")
        shutil.rmtree(state, ignore_errors=True)
