"""Who is looking at the dashboard: the Keystone token in its session cookie.

The cookie holds the token itself (HttpOnly, so no script can read it; SameSite=Strict,
so no other site's page sends it; Secure on https; scoped to /dashboard), and each
request validates it through nslb's identity service as an API call's X-Auth-Token
would be: a revoked, expired or rotated-out token ends the session at once. Under
`--auth noauth` there is no login, and the dashboard shows what noauth gives every
caller: every project, as an admin.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from nslb.api.context import NOAUTH_ROLES, Context, principal_context
from nslb.identity.service import AuthFailed, Identity, Principal

COOKIE = "nslb_session"
PATH = "/dashboard"


def identity_of(request: Request) -> Identity | None:
    service: Identity | None = request.app.state.identity
    return service


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def principal(request: Request) -> Principal | None:
    """The principal of the session cookie's token; None without a valid one."""
    service, token = identity_of(request), session_token(request)
    if service is None or token is None:
        return None
    try:
        return service.validate(token)
    except AuthFailed:
        return None


def viewer(request: Request) -> Context | None:
    """The caller as the API's policy sees it, or None when nobody is logged in."""
    if identity_of(request) is None:
        return Context(project_id=None, roles=NOAUTH_ROLES)
    found = principal(request)
    return principal_context(found) if found is not None else None


def set_cookie(response: Response, request: Request, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def start(response: Response, request: Request, token: str, who: Principal) -> None:
    """Put the token in the session cookie until the token expires."""
    expires = who.token.expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    seconds = max(1, int((expires - datetime.now(UTC)).total_seconds()))
    set_cookie(response, request, COOKIE, token, seconds)


def end(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
