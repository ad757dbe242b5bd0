"""Small request/response helpers shared by every resource module."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from nslb.api import jsonbody
from nslb.api.context import Context
from nslb.api.faults import ApiError, BadRequest

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
SHOWN_CHARS = 64  # how much of a user's value an error message repeats
MAX_MESSAGE_CHARS = 2048


class _Titled(ApiError):
    """An error whose Keystone title is the HTTP reason phrase of its status."""

    title = "Error"

    def keystone_body(self) -> dict[str, Any]:
        body = super().keystone_body()
        body["error"]["title"] = self.title
        return body


class PayloadTooLarge(_Titled):
    """413, as oslo.middleware's sizelimit answers in front of Octavia, Neutron and Keystone."""

    status = 413
    neutron_type = "RequestEntityTooLarge"
    title = "Request Entity Too Large"

    def __init__(self) -> None:
        super().__init__("Request is too large.")


class UnsupportedMediaType(_Titled):
    """415, as WSME answers a body it has no decoder for."""

    status = 415
    neutron_type = "UnsupportedMediaType"
    title = "Unsupported Media Type"

    def __init__(self, media_type: str) -> None:
        super().__init__(f"Unknown mimetype: {shown(media_type)}")


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A user's value as an error message may repeat it: cut to `limit` characters and
    encodable as UTF-8 whatever it holds (lone surrogates become escapes)."""
    text = str(value)
    if len(text) > limit:  # cut before escaping: the escapes of a huge value are huger
        text = text[:limit] + "..."
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit + 3 else text[:limit] + "..."


def is_json(content_type: str) -> bool:
    """application/json with any parameters (keystoneauth sends it without charset,
    other clients with `; charset=utf-8`)."""
    return content_type.partition(";")[0].strip().lower() == "application/json"


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
    content_type = request.headers.get("content-type")
    if raw and not is_json(content_type or ""):
        raise UnsupportedMediaType(content_type or "(none)")
    body = jsonbody.loads(raw)
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
    """Octavia's wording for the first validation error. Field names in `loc` can be the
    user's own keys and `input` is the user's value: both are cut (a 10 MB value must
    not come back in the 400) and made encodable."""
    err = exc.errors()[0]
    loc = shown(".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or root)
    if err["type"] == "extra_forbidden":
        return f"Invalid input for field/attribute {root}. Unknown attribute: {loc}"
    if err["type"] == "missing":
        return f"Invalid input for field/attribute {loc}. Value: 'None'. Mandatory field missing."
    value = shown(err.get("input"))
    msg = shown(err["msg"].removeprefix("Value error, "), MAX_MESSAGE_CHARS)
    return f"Invalid input for field/attribute {loc}. Value: '{value}'. {msg}"


class FastJSONResponse(JSONResponse):
    """Starlette's JSONResponse encoded by orjson: a list of 1,000 load balancers (700 kB)
    took 18 ms in the standard library's encoder, 1-2 ms in orjson. The output is the same
    compact UTF-8 JSON; anything orjson refuses (a non-string key, an integer beyond 64
    bits, a lone surrogate) goes to the standard encoder, which answers as before."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return super().render(content)


def respond(data: Any, status: int = 200) -> Response:
    if status == 204:
        return Response(status_code=204)
    return FastJSONResponse(data, status_code=status)


Handler = Callable[[Request], Awaitable[Response]]


def error_response(request: Request, exc: ApiError) -> Response:
    """`exc` in the fault shape of the API the path belongs to. The message is made safe
    to encode here too, so no handler's wording can turn a 4xx into a 500."""
    exc.message = shown(exc.message, MAX_MESSAGE_CHARS)
    path = request.url.path
    if path.startswith("/identity"):
        body = exc.keystone_body()
    elif path.startswith("/networking"):
        body = exc.neutron_body()
    elif path.startswith("/key-manager"):
        body = exc.barbican_body()
    elif path.startswith("/compute"):
        body = exc.nova_body()
    else:
        body = exc.octavia_body()
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    headers = {"WWW-Authenticate": 'Keystone uri="/identity/v3"'} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


def base_url(request: Request) -> str:
    """Public base URL: the configured one, else what the reverse proxy says, else ours."""
    configured: str = request.app.state.settings.public_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", ""))
    return f"{proto}://{host}"
