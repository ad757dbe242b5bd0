"""Tiny HTTP backend for integration tests: answers with its name and the request headers.

Run inside a test namespace: python echo_server.py NAME PORT
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from nslb.demo.backend import DualStackServer

MAX_SLEEP = 30.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        """Query options: sleep=SECONDS (only on the server named by on=NAME, if given)
        delays the answer; setcookie=NAME answers with Set-Cookie NAME=<server name>."""
        name = self.server.name  # type: ignore[attr-defined]
        query = parse_qs(urlsplit(self.path).query)
        if "sleep" in query and query.get("on", [name])[0] == name:
            time.sleep(min(float(query["sleep"][0]), MAX_SLEEP))
        body = json.dumps({"name": name,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "path": self.path}).encode()
        self.send_response(200)
        if "setcookie" in query:
            self.send_header("Set-Cookie", f"{query['setcookie'][0]}={name}")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence per-request logging."""


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    server = DualStackServer(("::", port), Handler)
    server.name = name  # type: ignore[attr-defined]
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
