"""A tiny web server for demos and tests: answers every GET with its own name.

Run inside a namespace: python -m nslb.demo.backend NAME PORT [LABEL]
(LABEL is not used: it names the demo the server belongs to in `ps`.)
"""

from __future__ import annotations

import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = f"Hello from {self.server.name}\n".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the demo prints what matters."""


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    server = DualStackServer(("::", port), Handler)
    server.name = name  # type: ignore[attr-defined]
    server.serve_forever()


if __name__ == "__main__":
    main()
