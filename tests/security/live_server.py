"""A real uvicorn server (nslb's guarded protocol) on loopback in a thread, for tests that
need real sockets: slow clients, connection caps, keep-alive after a 500."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from nslb.api.server import raise_fd_limit, server_config
from nslb.config import Settings
from tests.launcher import free_port


@dataclass
class LiveServer:
    server: uvicorn.Server
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self.server.server_state.connections)

    def connect(self, first_bytes: bytes = b"") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if first_bytes:
            sock.sendall(first_bytes)
        return sock

    def wait_until(self, test: Callable[[int], bool], timeout: float = 10.0) -> None:
        """Wait until `test(number of open connections)` holds."""
        deadline = time.monotonic() + timeout
        while not test(self.open_connections):
            assert time.monotonic() < deadline, f"{self.open_connections} open"
            time.sleep(0.01)


@contextmanager
def live_server(app: Any, settings: Settings) -> Iterator[LiveServer]:
    """Serve `app` with the limits in `settings` until the block ends."""
    raise_fd_limit()  # hundreds of sockets on both ends live in this one process
    port = free_port()
    config = server_config(app, settings, port=port, host="127.0.0.1", log_config=None,
                           lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield LiveServer(server, port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes `sock` (EOF or reset) within `timeout` seconds; any
    bytes it sends before closing are read and ignored."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False
