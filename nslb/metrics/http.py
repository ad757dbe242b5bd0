"""API request metrics: a pure ASGI middleware, outermost, so the latency it records is
what a client waits for, every middleware and 500 included.

Requests are labelled by route *template* (`/v2/lbaas/loadbalancers/{id}`), never by raw
path: ids in paths would make a series per object, and a client sending random paths a
series per request. Starlette's router leaves the route it matched in the scope
(`scope["route"]`, innermost) and the mount prefixes it consumed in `root_path`; mount
paths in nslb are fixed strings, so prefix + route path is the template. A request no
route took (a 404, a guard's 400 before routing) is `<unmatched>`, and a method outside
HTTP's usual ones is `other`, so every label comes from a bounded set.
"""

from __future__ import annotations

import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nslb.metrics.registry import Metrics

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route that answered, from what the router left in the scope."""
    route = scope.get("route")
    if not isinstance(route, Route):  # nothing matched, or only a Mount (then a 404)
        return UNMATCHED
    prefix = scope.get("root_path", "")[len(scope.get("app_root_path", "")):]
    return prefix + route.path


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


class RequestMetrics:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.requests = metrics.api_requests
        self.latency = metrics.api_latency
        self.in_flight = metrics.api_in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = "none"  # the client went away before an answer started

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.in_flight.dec()
            method, route = method_label(scope["method"]), route_template(scope)
            self.requests.labels(method, route, status).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)
