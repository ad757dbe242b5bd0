"""Small request/response helpers shared by every resource module."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nslb.api.context import Context
from nslb.api.faults import ApiError, BadRequest

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def context(request: Request) -> Context:
    """The caller, worked out once per request (token validation is not free)."""
    ctx: Context | None = getattr(request.state, "ctx", None)
    if ctx is None:
        ctx = request.app.state.context_for(request)
        request.state.ctx = ctx
    return ctx


async def read_envelope(request: Request, root: str, kind: type = dict) -> Any:
    """The value inside the `{root: ...}` envelope of a request body, checked to be `kind`."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise BadRequest("Invalid input: request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get(root), kind):
        noun = "list" if kind is list else "object"
        raise BadRequest(f"Invalid input: the body must be a JSON object with a '{root}' {noun}")
    return body[root]


async def read_root(request: Request, root: str) -> dict[str, Any]:
    """The object inside the `{root: {...}}` envelope of a request body."""
    value: dict[str, Any] = await read_envelope(request, root)
    return value


def parse(schema: type[M], data: dict[str, Any], root: str) -> M:
    """Validate `data` with a pydantic schema, turning errors into Octavia's wording."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe(exc, root)) from None


def describe(exc: ValidationError, root: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or root
    if err["type"] == "extra_forbidden":
        return f"Invalid input for field/attribute {root}. Unknown attribute: {loc}"
    if err["type"] == "missing":
        return f"Invalid input for field/attribute {loc}. Value: 'None'. Mandatory field missing."
    value = err.get("input")
    msg = err["msg"].removeprefix("Value error, ")
    return f"Invalid input for field/attribute {loc}. Value: '{value}'. {msg}"


def respond(data: Any, status: int = 200) -> Response:
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(data, status_code=status)


Handler = Callable[[Request], Awaitable[Response]]


def error_response(request: Request, exc: ApiError) -> Response:
    path = request.url.path
    if path.startswith("/identity"):
        body = exc.keystone_body()
    elif path.startswith("/networking"):
        body = exc.neutron_body()
    else:
        body = exc.octavia_body()
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": 'Keystone uri="/identity/v3"'} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)
