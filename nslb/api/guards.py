"""ASGI middlewares that keep hostile requests from reaching (or breaking) the handlers.

- `BodyLimit`: a body above the limit is a 413 before it is read: at once when
  Content-Length says so, and after the limit when a chunked body streams past it.
- `InputGuard`: a NUL (or a lone surrogate) in the path or any query parameter is a 400;
  PostgreSQL can neither store nor compare NUL, so it must never reach a filter.
- `CatchAll`: an unexpected exception becomes a 500 in the API's fault shape, *answered*
  rather than re-raised: Starlette's ServerErrorMiddleware re-raises after its handler, and
  uvicorn then closes the connection under a client that was told nothing.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nslb.api import jsonbody
from nslb.api.faults import ApiError
from nslb.api.http import PayloadTooLarge, error_response

log = logging.getLogger(__name__)


async def _answer(scope: Scope, receive: Receive, send: Send, exc: ApiError) -> None:
    await error_response(Request(scope), exc)(scope, receive, send)


class BodyLimit:
    """At most `max_bytes` of request body reach the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared(scope) > self.max_bytes:
            await _answer(scope, receive, send, PayloadTooLarge())
            return
        await self.app(scope, self._counting(receive), send)

    @staticmethod
    def _declared(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:  # the HTTP parser refuses these; be safe anyway
                    return 0
        return 0

    def _counting(self, receive: Receive) -> Receive:
        """`receive` that raises PayloadTooLarge (handled like any ApiError, in the
        handler's fault shape) once the streamed body passes the limit."""
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge()
            return message

        return counted


class InputGuard:
    """400 for a path or query parameter holding text no database can take."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self._check(scope)
            except ApiError as exc:
                await _answer(scope, receive, send, exc)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _check(scope: Scope) -> None:
        jsonbody.check_text(scope.get("path", ""), "the path")
        query = scope.get("query_string", b"").decode("latin-1")
        # Decoded exactly as Starlette's QueryParams decodes it for the handlers.
        for key, value in parse_qsl(query, keep_blank_values=True):
            jsonbody.check_text(key, "a query parameter")
            jsonbody.check_text(value, "a query parameter")


class CatchAll:
    """Unexpected exceptions end here as a 500 in the fault shape, keeping the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            log.info("client went away during %s %s", scope["method"], scope["path"][:200])
        except Exception:
            if started:  # half a response is out: only closing the connection is honest
                raise
            request_id = scope.get("state", {}).get("request_id", "-")
            log.exception("unhandled error on %s %s (%s)", scope["method"],
                          scope["path"][:200], request_id)
            await _answer(scope, receive, send, ApiError("An unknown exception occurred.", 500))
