"""The key manager at /key-manager: one endpoint that matches Barbican's paths itself.

Barbican (pecan) treats `/v1/secrets` and `/v1/secrets/` alike (barbicanclient POSTs with
the slash, openstacksdk without), answers 405 for a known path and another method, and
renders every error in its own shape. Matching segments here gives all three, and keeps
Starlette's redirects and Octavia-shaped 404/405s out of this API.

Every response carries the microversion it was answered at (OpenStack-API-Version), as
microversion_parse's middleware adds it in front of Barbican. Requests other than the
version documents need a project-scoped caller before anything is looked up.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from functools import partial

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from nslb.api.barbican import acls, consumers, containers, secrets, versions
from nslb.api.barbican.call import PREFIX, Call, base_of, caller_of
from nslb.api.barbican.faults import BarbicanError, abort, failure, response, unauthorized
from nslb.api.barbican.validate import TOO_LARGE
from nslb.api.faults import ApiError, Unauthorized
from nslb.api.http import PayloadTooLarge
from nslb.api.offload import Handler as Endpoint
from nslb.api.offload import in_thread
from nslb.secrets.store import SecretStore

log = logging.getLogger(__name__)
Handler = Callable[[Call], Response]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# (path segments after /key-manager/v1, "{id}" matching any one segment) -> method -> handler
TABLE: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
    (("secrets",), {"GET": secrets.listing, "POST": secrets.create}),
    (("secrets", "{id}"), {"GET": secrets.show, "PUT": secrets.put, "DELETE": secrets.delete}),
    (("secrets", "{id}", "payload"), {"GET": secrets.payload}),
    (("secrets", "{id}", "acl"), {"GET": partial(acls.get, kind="secrets"),
                                  "PUT": partial(acls.put, kind="secrets"),
                                  "PATCH": partial(acls.patch, kind="secrets"),
                                  "DELETE": partial(acls.delete, kind="secrets")}),
    (("secrets", "{id}", "consumers"), {"GET": consumers.listing, "POST": consumers.create,
                                        "DELETE": consumers.delete}),
    (("containers",), {"GET": containers.listing, "POST": containers.create}),
    (("containers", "{id}"), {"GET": containers.show, "DELETE": containers.delete}),
    (("containers", "{id}", "acl"), {"GET": partial(acls.get, kind="containers"),
                                     "PUT": partial(acls.put, kind="containers"),
                                     "PATCH": partial(acls.patch, kind="containers"),
                                     "DELETE": partial(acls.delete, kind="containers")}),
    (("containers", "{id}", "secrets"), {"POST": containers.add_secret,
                                         "DELETE": containers.remove_secret}),
]


def match(segments: list[str]) -> tuple[dict[str, Handler], dict[str, str]] | None:
    for pattern, handlers in TABLE:
        if len(pattern) != len(segments):
            continue
        ids: dict[str, str] = {}
        for want, got in zip(pattern, segments, strict=True):
            if want == "{id}":
                ids["id"] = got
            elif want != got:
                break
        else:
            return handlers, ids
    return None


def _versions(request: Request, version: str, segments: list[str]) -> Response | None:
    """The version documents (open, like Barbican's), or None for any other path."""
    base = base_of(request)
    if not segments:
        return JSONResponse(versions.root_document(base, version), status_code=300)
    if segments == ["v1"]:
        return JSONResponse(versions.v1_document(base, version))
    return None


def _answer(request: Request, version: str, body: bytes) -> Response:
    rest = request.path_params.get("rest", "")
    segments = [s for s in rest.split("/") if s]
    if request.method in ("GET", "HEAD"):
        document = _versions(request, version, segments)
        if document is not None:
            return document
    caller = caller_of(request)
    found = match(segments[1:]) if segments[:1] == ["v1"] else None
    if found is None:
        raise abort(404, None)
    handlers, ids = found
    handler = handlers.get(request.method)
    if handler is None:
        raise abort(405, None)
    store = SecretStore.open(request.app.state.db, request.app.state.settings.state_dir)
    call = Call(request=request, caller=caller, version=version, base=base_of(request),
                body=body, ids=ids, store=store)
    return handler(call)


async def dispatch(request: Request) -> Response:
    """Runs in a worker thread (api/offload.py); the body was read before."""
    version = versions.MIN_VERSION
    try:
        version = versions.requested(request.headers.get(versions.HEADER))
        out = _answer(request, version, await request.body())
    except BarbicanError as exc:
        out = response(exc)
    except ApiError as exc:
        out = from_api_error(exc)
    except ClientDisconnect:
        raise
    except Exception as exc:  # noqa: BLE001 - the fault shape, never the cause
        _log_failure(request, exc)
        out = response(failure("System"))
    out.headers["OpenStack-API-Version"] = f"{versions.SERVICE} {version}"
    out.headers["Vary"] = "OpenStack-API-Version"
    return out


def from_api_error(exc: ApiError) -> Response:
    """nslb's own errors met on the way (the caller's token, the body's size)."""
    if isinstance(exc, Unauthorized) or exc.status == 401:
        return unauthorized()
    if isinstance(exc, PayloadTooLarge):
        return response(abort(413, TOO_LARGE))
    return response(abort(exc.status, exc.message))


def _log_failure(request: Request, exc: Exception) -> None:
    """The type and the stack, never the exception's text: it may quote a payload."""
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("key manager: %s %s failed with %s\n%s", request.method,
              request.url.path[:200], type(exc).__name__, stack)


def guarded(endpoint: Endpoint) -> Endpoint:
    """Errors raised before the handler thread runs (reading the body) in this API's shape."""
    async def run(request: Request) -> Response:
        try:
            out: Response = await endpoint(request)
        except ApiError as exc:
            out = from_api_error(exc)
        return out

    return run


def routes() -> list[BaseRoute]:
    """Mounted by api/app.py after the other APIs were wrapped by offload()."""
    endpoint = guarded(in_thread(dispatch))
    return [Route(PREFIX, endpoint, methods=METHODS),
            Route(PREFIX + "/{rest:path}", endpoint, methods=METHODS)]
