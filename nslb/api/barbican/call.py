"""One key-manager request as the handlers see it: the caller (Barbican's roles), the
microversion, the public base of /key-manager, the body, the path's ids and the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from nslb.api import jsonbody
from nslb.api.barbican.faults import BarbicanError, abort
from nslb.api.barbican.validate import MAX_REQUEST_BYTES, TOO_LARGE
from nslb.api.faults import ApiError
from nslb.api.http import base_url, context
from nslb.db.engine import Database
from nslb.secrets.policy import Caller
from nslb.secrets.store import SecretStore

PREFIX = "/key-manager"


def base_of(request: Request) -> str:
    """The public URL of /key-manager, the root of every ref."""
    return base_url(request) + PREFIX


def caller_of(request: Request) -> Caller:
    """Barbican's request context: a valid project-scoped token (or noauth's headers);
    anything else is keystonemiddleware's 401."""
    ctx = context(request)
    if ctx.project_id is None:
        raise BarbicanError(401, None)
    return Caller.of(ctx.project_id, ctx.user_id, ctx.roles)


@dataclass
class Call:
    request: Request
    caller: Caller
    version: str
    base: str
    body: bytes
    ids: dict[str, str]
    store: SecretStore

    @property
    def db(self) -> Database:
        return self.store.db

    @property
    def method(self) -> str:
        return self.request.method

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def content_type(self) -> str:
        """The media type without parameters, as webob's `request.content_type`."""
        return (self.header("content-type") or "").partition(";")[0].strip().lower()

    def require_content_type(self, allowed: list[str]) -> None:
        if self.content_type() not in allowed:
            raise abort(415, "Unexpected content type. Expected content types are: "
                             f"{allowed}")

    def json(self) -> Any:
        """The body as JSON (Barbican's load_body): 413 above the request limit, 400
        "Malformed JSON" for anything that is not plain JSON."""
        if len(self.body) > MAX_REQUEST_BYTES:
            raise abort(413, TOO_LARGE)
        if not self.body.strip():
            raise abort(400, "Malformed JSON")
        try:
            return jsonbody.loads(self.body)
        except ApiError:
            raise abort(400, "Malformed JSON") from None
