"""/identity/v3/auth/*: issue, validate and revoke tokens; catalog; versions."""

from __future__ import annotations

from typing import Any

import anyio
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Forbidden, NotFound, Unauthorized
from nslb.api.http import read_root, respond
from nslb.api.keystone import shapes
from nslb.db import identity as repo
from nslb.identity.service import AuthFailed, Identity, Principal

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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def issue(request: Request) -> Response:
    auth = await read_root(request, "auth")
    ident = _dict(auth.get("identity"))
    methods = ident.get("methods")
    methods = methods if isinstance(methods, list) else []
    scope = auth.get("scope")
    service = identity(request)
    try:
        if "password" in methods:
            user = _dict(_dict(ident.get("password")).get("user"))
            if not isinstance(user.get("password"), str):
                raise BadRequest("Expecting to find password.user.password in the request.")
            # The throttle's wait holds no thread; argon2 runs off the event loop.
            pause = service.login_wait(user)
            if pause:
                await anyio.sleep(pause)
            token, principal = await to_thread.run_sync(
                service.password_login, user, user["password"], scope, True)
        elif "token" in methods:
            old = _dict(ident.get("token")).get("id") or request.headers.get("x-auth-token")
            if not isinstance(old, str):
                raise BadRequest("Expecting to find token.id in the request.")
            token, principal = service.token_login(old, scope)
        else:
            raise Unauthorized()
    except AuthFailed:
        raise Unauthorized() from None
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
