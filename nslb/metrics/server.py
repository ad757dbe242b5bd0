"""The metrics listener: prometheus_client's own HTTP server on `--metrics-listen`, in a
daemon thread, apart from the API.

Apart, because the series name every project's load balancers and their traffic: the API
port faces tenants, and Prometheus scrapers do not carry Keystone tokens. The listener
has no authentication, like every Prometheus exporter; it binds to loopback by default
and an operator exposes it on purpose (a management address, a firewall rule, or a
reverse proxy with TLS and credentials in front). A scrape reads memory and cached
counts only (metrics/dataplane.py, metrics/objects.py), so it never waits for the data
plane or holds a database lock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

log = logging.getLogger(__name__)


def parse_listen(value: str) -> tuple[str, int] | None:
    """HOST:PORT (IPv6 in brackets) -> (host, port); "" -> None (metrics off).
    ValueError names what is wrong."""
    if value == "":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--metrics-listen must be HOST:PORT or empty, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--metrics-listen: an IPv6 address goes in brackets, got {value!r}")
    return host, int(port)


@dataclass
class MetricsServer:
    httpd: WSGIServer
    thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def start(listen: str, registry: CollectorRegistry) -> MetricsServer | None:
    """Serve `registry` on `listen`; None when metrics are off or the address cannot be
    bound (logged as an error: the API and the load balancers matter more than their
    graphs, and Prometheus shows the target down)."""
    where = parse_listen(listen)
    if where is None:
        return None
    host, port = where
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics listener %s could not start (%s): /metrics is off; choose "
                  "another address with --metrics-listen", listen, exc)
        return None
    server = MetricsServer(httpd, thread)
    bound_host, bound_port = server.address
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    log.info("metrics on http://%s:%d/metrics", shown, bound_port)
    return server
