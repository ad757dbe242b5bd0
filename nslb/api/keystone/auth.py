"""/identity/v3/auth/*: issue, validate and revoke tokens; catalog; versions."""

from __future__ import annotations

import math
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Forbidden, NotFound, Unauthorized
from nslb.api.http import read_root, respond
from nslb.api.keystone import schemas, shapes
from nslb.db import identity as repo
from nslb.identity.gate import Busy
from nslb.identity.refs import Scope
from nslb.identity.service import AuthFailed, Identity, Principal
from nslb.identity.throttle import source_key

ADMIN_ROLES = frozenset({"admin"})


def identity(request: Request) -> Identity:
    service: Identity = request.app.state.identity
    return service


def caller(request: Request) -> Principal:
    """The principal of the request's X-Auth-Token, or 401."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized()
    try:
        return identity(request).validate(token)
    except AuthFailed:
        raise Unauthorized() from None


def is_admin(principal: Principal) -> bool:
    return bool(principal.role_names & ADMIN_ROLES)


def require_admin(request: Request) -> Principal:
    principal = caller(request)
    if not is_admin(principal):
        raise Forbidden("You are not authorized to perform the requested action.")
    return principal


def _version(request: Request) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": shapes.v3(request) + "/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


async def versions(request: Request) -> Response:
    return respond({"versions": {"values": [_version(request)]}}, 300)


async def version(request: Request) -> Response:
    return respond({"version": _version(request)})


def source(request: Request) -> str:
    """The throttle's notion of the client: its address (an IPv6 /64)."""
    return source_key(request.client.host if request.client else None)


def _refused(status: int, title: str, message: str, retry_after: float) -> Response:
    """429/503 in Keystone's shape, with a Retry-After keystoneauth understands (whole
    seconds; it retries 429 and 503 when the client enabled status-code retries)."""
    response = respond({"error": {"code": status, "title": title, "message": message}},
                       status)
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def too_many(wait: float) -> Response:
    """A throttled attempt, answered at once. 429 rather than Keystone's usual 401: the
    password was not checked, so a 401 would tell a user who typed the right one that it
    was wrong; 429 with Retry-After says "wait", and keystoneauth raises TooManyRequests
    (or retries after Retry-After when status-code retries are on). The throttle is per
    (source, user), so only the source that failed repeatedly ever sees it."""
    return _refused(429, "Too Many Requests",
                    "Too many failed login attempts from this address; try again later.",
                    wait)


def busy() -> Response:
    return _refused(503, "Service Unavailable",
                    "Too many logins are being checked at once; try again shortly.", 1)


async def issue(request: Request) -> Response:
    auth = schemas.parse(schemas.Auth, await read_root(request, "auth"))
    methods = auth.identity.methods
    service = identity(request)
    try:
        scope = auth.scope_ref()
        if "password" in methods:
            return await _password_issue(request, service, auth, scope)
        if "token" in methods:
            method = auth.identity.token
            old = (method.id if method else None) or request.headers.get("x-auth-token")
            if not old:
                raise BadRequest("Expecting to find token.id in the request.")
            return _issued(request, *service.token_login(old, scope))
        raise Unauthorized()
    except (AuthFailed, schemas.Unsupported):
        raise Unauthorized() from None


async def _password_issue(request: Request, service: Identity, auth: schemas.Auth,
                          scope: Scope) -> Response:
    """Throttle first (answered at once, no thread), then argon2 off the event loop,
    within the gate's bound on concurrent checks."""
    user = auth.identity.password.user if auth.identity.password else None
    if user is None or user.password is None:
        raise BadRequest("Expecting to find password.user.password in the request.")
    ref, client = user.ref(), source(request)
    wait = service.admit(client, ref)
    if wait > 0:
        return too_many(wait)
    try:
        token, principal = await to_thread.run_sync(
            service.password_login, client, ref, user.password, scope)
    except Busy:
        return busy()
    return _issued(request, token, principal)


def _issued(request: Request, token: str, principal: Principal) -> Response:
    response = respond(shapes.token(request, principal), 201)
    response.headers["X-Subject-Token"] = token
    return response


def _subject(request: Request) -> tuple[Principal, Principal, str]:
    """(caller, subject, subject token); only admins may look at other users' tokens."""
    me = caller(request)
    subject_token = request.headers.get("x-subject-token")
    if not subject_token:
        raise BadRequest("Missing X-Subject-Token header.")
    try:
        subject = identity(request).validate(subject_token)
    except AuthFailed:
        raise NotFound("Could not find token.") from None
    if subject.user.id != me.user.id and not is_admin(me):
        raise Forbidden("You are not authorized to perform the requested action.")
    return me, subject, subject_token


async def validate(request: Request) -> Response:
    _, subject, token = _subject(request)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": token})
    response = respond(shapes.token(request, subject))
    response.headers["X-Subject-Token"] = token
    return response


async def revoke(request: Request) -> Response:
    _, _, token = _subject(request)
    identity(request).revoke(token)
    return Response(status_code=204)


async def catalog(request: Request) -> Response:
    caller(request)
    return respond({"catalog": shapes.catalog(request),
                    "links": shapes.collection_links(request)})


async def my_projects(request: Request) -> Response:
    principal = caller(request)
    with request.app.state.db.read() as session:
        projects = repo.projects_of(session, principal.user.id)
    return respond({"projects": [shapes.project(request, p) for p in projects if p.enabled],
                    "links": shapes.collection_links(request)})


def routes() -> list[Route]:
    return [
        Route("/", versions, methods=["GET"]),
        Route("/v3", version, methods=["GET"]),
        Route("/v3/", version, methods=["GET"]),
        Route("/v3/auth/tokens", issue, methods=["POST"]),
        Route("/v3/auth/tokens", validate, methods=["GET", "HEAD"]),
        Route("/v3/auth/tokens", revoke, methods=["DELETE"]),
        Route("/v3/auth/catalog", catalog, methods=["GET"]),
        Route("/v3/auth/projects", my_projects, methods=["GET"]),
    ]
