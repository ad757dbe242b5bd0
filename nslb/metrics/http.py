"""API request metrics: a pure ASGI middleware, outermost, so the latency it records is
what a client waits for, every middleware and 500 included.

Requests are labelled by route *template* (`/v2/lbaas/loadbalancers/{id}`), never by raw
path: ids in paths would make a series per object, and a client sending random paths a
series per request. Starlette's router leaves the route it matched in the scope
(`scope["route"]`, innermost) and the mount prefixes it consumed in `root_path`; mount
paths in nslb are fixed strings, so prefix + route path is the template. A request no
route took (a 404, a guard's 400 before routing) is `<unmatched>`, and a method outside
HTTP's usual ones is `other`, so every label comes from a bounded set.

The request counter also carries the caller's project (`project_id`, "" when the request
had none or was refused before the caller was known), read from the context the policy
guard left in the request's state. With Keystone that is a project whose token was
verified; with noauth it is whatever the client's X-Project-Id said, so the set is capped
(`ProjectLabels`): past MAX_PROJECTS distinct values, new ones count as `other`. The
latency histogram has no project label (a dozen buckets per project and route would be
more series than the answers are worth).
"""

from __future__ import annotations

import threading
import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nslb.metrics.registry import Metrics

UNMATCHED = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_PROJECTS = 1000
OTHER = "other"


def route_template(scope: Scope) -> str:
    """The template of the route that answered, from what the router left in the scope."""
    route = scope.get("route")
    if not isinstance(route, Route):  # nothing matched, or only a Mount (then a 404)
        return UNMATCHED
    prefix = scope.get("root_path", "")[len(scope.get("app_root_path", "")):]
    return prefix + route.path


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def project_of(scope: Scope) -> str:
    """The caller's project as the policy guard worked it out (api/http.py `context`)."""
    ctx = scope.get("state", {}).get("ctx")
    project = getattr(ctx, "project_id", None)
    return project if isinstance(project, str) else ""


class ProjectLabels:
    """At most `limit` distinct project label values; later newcomers are `other`."""

    def __init__(self, limit: int = MAX_PROJECTS) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, project: str) -> str:
        if project in self._seen or project == "":
            return project
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(project)
        return project


class RequestMetrics:
    """Counts every HTTP request by method, route template, status and project, and times
    it by method and route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.requests = metrics.api_requests
        self.latency = metrics.api_latency
        self.in_flight = metrics.api_in_flight
        self.projects = ProjectLabels()

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

        scope.setdefault("state", {})  # shared with the Request the guard stores ctx in
        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_counted)
        finally:
            self.in_flight.dec()
            method, route = method_label(scope["method"]), route_template(scope)
            project = self.projects(project_of(scope))
            self.requests.labels(method, route, status, project).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)
