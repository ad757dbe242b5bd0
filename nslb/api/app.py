"""The ASGI application: Octavia v2 at the root and under /load-balancer, the network
registry under /networking, errors rendered in the shape of the API that was called
(the write-side rules' domain errors too: faults.from_domain).

Middlewares, outermost first: request metrics (when metrics are on), request log and id,
the catch-all that answers 500s, the path/query guard, the body limit, the `.json`
suffix, and Nova's microversions for /compute/v2.1 (api/compute/microversion.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nslb.api import policy
from nslb.api.barbican import routes as barbican
from nslb.api.compute import routes as compute
from nslb.api.compute.microversion import Microversions
from nslb.api.context import Context, noauth_context
from nslb.api.faults import ApiError, from_domain
from nslb.api.guards import BodyLimit, CatchAll, InputGuard
from nslb.api.http import error_response
from nslb.api.keystone import admin, auth, roles
from nslb.api.neutron import networking
from nslb.api.octavia import routes as octavia
from nslb.api.octavia import versions
from nslb.api.offload import offload
from nslb.api.requestlog import RequestLog
from nslb.config import Settings
from nslb.dashboard import routes as dashboard
from nslb.db.engine import Database
from nslb.health.live import LiveBoard
from nslb.identity.service import Identity
from nslb.lbaas.errors import DomainError
from nslb.metrics.http import RequestMetrics
from nslb.metrics.registry import Metrics


class JsonSuffix:
    """Octavia (and Neutron) accept `GET /v2/lbaas/loadbalancers.json`: drop the suffix.

    The scope is changed in place, not copied: the router leaves the route it matched in
    it, which the metrics middleware outside reads (metrics/http.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.endswith(".json"):
            scope["path"] = path[: -len(".json")]
            scope["raw_path"] = scope.get("raw_path", b"").removesuffix(b".json")
        await self.app(scope, receive, send)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "The resource could not be found.", 405: "Method Not Allowed"}
    return error_response(request, ApiError(messages.get(exc.status_code, str(exc.detail)),
                                            exc.status_code))


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request, exc)


def _domain_error(request: Request, exc: Exception) -> Response:
    """A write-side rule refused the change (nslb/lbaas): its status by kind, its message
    as it is, in the fault shape of the API that was called."""
    assert isinstance(exc, DomainError)
    return error_response(request, from_domain(exc))


def octavia_routes() -> list[BaseRoute]:
    api = policy.guard(octavia.routes())
    return [
        Route("/", versions.versions, methods=["GET"]),
        Mount("/v2.0", routes=api),
        Mount("/v2", routes=api),
    ]


def identity_routes() -> list[BaseRoute]:
    return [*auth.routes(), *admin.routes(), *roles.routes()]


def create_app(settings: Settings, db: Database,
               kick: Callable[[str | None], None] = lambda lb_id: None,
               context_for: Callable[[Request], Context] = noauth_context,
               identity: Identity | None = None,
               resync: Callable[[str], None] = lambda lb_id: None,
               live: LiveBoard | None = None,
               metrics: Metrics | None = None) -> Starlette:
    """Build the app. `kick` wakes the worker after a change is committed, `resync(lb_id)`
    asks it to re-apply one LB now; `identity` serves /identity (the embedded Keystone)
    when given; `live` is the health loop's board of live figures the dashboard shows;
    requests are counted in `metrics` when given and metrics are on
    (`settings.metrics_listen`)."""
    routes: list[BaseRoute] = [
        *dashboard.routes(),
        Mount("/networking", routes=policy.guard(networking.routes())),
        Mount("/load-balancer", routes=octavia_routes()),
        Mount("/compute", routes=compute.routes()),
        *octavia_routes(),
    ]
    if identity is not None:
        routes.insert(0, Mount("/identity", routes=identity_routes()))
    measured = ([Middleware(RequestMetrics, metrics=metrics)]
                if metrics is not None and settings.metrics_listen else [])
    app = Starlette(
        # handlers run in worker threads (api/offload.py); the key manager wraps its own
        # so that its errors keep Barbican's shape (api/barbican/routes.py)
        routes=[*barbican.routes(), *offload(routes)],
        # No handler for Exception: guards.CatchAll answers those inside the app.
        exception_handlers={HTTPException: _http_error, ApiError: _api_error,
                            DomainError: _domain_error},
        middleware=[*measured, Middleware(RequestLog), Middleware(CatchAll),
                    Middleware(InputGuard),
                    Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
                    Middleware(JsonSuffix), Middleware(Microversions)],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.kick = kick
    app.state.resync = resync
    app.state.context_for = context_for
    app.state.identity = identity
    app.state.live = live
    # signs the dashboard's CSRF tokens; a restart only makes open forms ask again
    app.state.dashboard_secret = secrets.token_bytes(32)
    app.state.metrics = metrics or Metrics()
    return app
