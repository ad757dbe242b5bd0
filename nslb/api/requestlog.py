"""One log line per request, and an `x-openstack-request-id` on every response.

OpenStack services name each request `req-<uuid>` and return it, so a user's failed call
can be found in the operator's log. The line holds the method, the path (never the query
string, headers or body: tokens and passwords travel there), the status, the duration, the
request id and the project when the request named one. User-controlled text (path, project)
is cut and escaped so a request cannot forge or flood log lines.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("nslb.api.requests")
HEADER = b"x-openstack-request-id"
MAX_LOGGED_CHARS = 200


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def loggable(text: str) -> str:
    """`text` on one line, printable, at most MAX_LOGGED_CHARS."""
    cut = text[:MAX_LOGGED_CHARS]
    escaped = cut.encode("unicode_escape").decode("ascii")
    return escaped + ("..." if len(text) > MAX_LOGGED_CHARS else "")


class RequestLog:
    """Outermost middleware: it sees the final status, 500s included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        # Handlers keep the caller in request.state (scope["state"]); make sure the dict
        # exists here so what they store is visible to this middleware afterwards.
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.monotonic()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message,
                           "headers": [*message.get("headers", []),
                                       (HEADER, request_id.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._log(scope, state, status, started, request_id)

    @staticmethod
    def _log(scope: Scope, state: dict[str, Any], status: int, started: float,
             request_id: str) -> None:
        ctx = state.get("ctx")
        project = getattr(ctx, "project_id", None)
        log.info("%s %s %s %.1f ms %s project=%s", scope["method"], loggable(scope["path"]),
                 status or "aborted", (time.monotonic() - started) * 1000, request_id,
                 loggable(project) if project else "-")
