"""Tiny HTTP backend for integration tests: answers with its name and the request headers.

Run inside a test namespace: python echo_server.py NAME PORT [CERT_PEM [CLIENT_CA_PEM]]
With CERT_PEM (certificate and key) it serves HTTPS; with CLIENT_CA_PEM it also requires a
client certificate signed by that CA and reports its CN as "client_cn". SIGHUP reloads
CERT_PEM (a member re-issued its certificate) and prints "reloaded". It issues no session
tickets, so every connection from haproxy is a full handshake that haproxy verifies.
"""

from __future__ import annotations

import json
import signal
import ssl
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
        answer = {"name": name, "headers": {k.lower(): v for k, v in self.headers.items()},
                  "path": self.path}
        if isinstance(self.connection, ssl.SSLSocket):
            peer = self.connection.getpeercert() or {}
            names = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"]
            answer["client_cn"] = names[0] if names else None
        body = json.dumps(answer).encode()
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


def _reload(context: ssl.SSLContext, cert: str) -> None:
    context.load_cert_chain(cert)
    print("reloaded", flush=True)


def main() -> None:
    name, port = sys.argv[1], int(sys.argv[2])
    server = DualStackServer(("::", port), Handler)
    server.name = name  # type: ignore[attr-defined]
    if len(sys.argv) > 3:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3])
        context.num_tickets = 0
        context.options |= ssl.OP_NO_TICKET
        signal.signal(signal.SIGHUP, lambda *_: _reload(context, sys.argv[3]))
        if len(sys.argv) > 4:
            context.load_verify_locations(sys.argv[4])
            context.verify_mode = ssl.CERT_REQUIRED
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
