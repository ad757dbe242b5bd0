"""Handlers run in worker threads, so the event loop only moves bytes.

Every handler does synchronous work: token validation, SQLAlchemy sessions, argon2. On
the event loop, one request waiting for SQLite's writer lock stalled every other client,
health checks and version documents included (a `GET /` took 0.92 s behind a write). Here
each route's endpoint is wrapped: the body is read on the loop (where the size limit of
guards.BodyLimit applies, and Starlette caches it on the request), then the handler runs
to completion in a thread from anyio's pool, in an event loop of its own, so the handler
code stays as written and its `await request.body()` is served from that cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

Handler = Callable[[Request], Awaitable[Response]]


def in_thread(endpoint: Handler) -> Handler:
    async def threaded(request: Request) -> Response:
        await request.body()
        return await to_thread.run_sync(_run, endpoint, request)

    threaded.__name__ = getattr(endpoint, "__name__", "endpoint")
    return threaded


def _run(endpoint: Handler, request: Request) -> Response:
    async def call() -> Response:
        return await endpoint(request)

    return asyncio.run(call())


def offload(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The same routes with every endpoint run by `in_thread`."""
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Mount):
            out.append(Mount(route.path, routes=offload(list(route.routes))))
        elif isinstance(route, Route):
            out.append(Route(route.path, in_thread(route.endpoint),
                             methods=sorted(route.methods or [])))
        else:
            out.append(route)
    return out
