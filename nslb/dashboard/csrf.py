"""Cross-site request forgery protection for every form the dashboard accepts.

A random per-browser value lives in an HttpOnly, SameSite=Strict cookie; each form carries
HMAC(server secret, that value + the session token) in a hidden field. A post is accepted
only when the field matches the cookie it came with and the session it is for, and, when
the browser names the page's origin (it does for every POST), that origin is ours. A
forged form on another site can neither read the cookie nor compute the field, and a
field stolen from one session is worthless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

COOKIE = "nslb_csrf"
FIELD = "csrf"


class CsrfRefused(PermissionError):
    """The post did not prove it came from one of our own pages."""


def new_cookie_value() -> str:
    return secrets.token_urlsafe(32)


def form_token(secret: bytes, cookie_value: str, session_token: str | None) -> str:
    message = f"{cookie_value}\n{session_token or ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def own_origin(request: Request) -> str:
    """scheme://host[:port] of the request as the browser addressed it."""
    return f"{request.url.scheme}://{request.url.netloc}"


def check(request: Request, secret: bytes, field: str, session_token: str | None,
          public_origin: str | None = None) -> None:
    """Raise CsrfRefused unless the post came from our own page in this browser session.
    `public_origin`: the origin of --public-url, which a reverse proxy's clients see."""
    origin = request.headers.get("origin")
    if origin is not None and origin not in (own_origin(request), public_origin):
        raise CsrfRefused("cross-origin form post")
    cookie = request.cookies.get(COOKIE, "")
    if not cookie or not field:
        raise CsrfRefused("missing CSRF token")
    if not hmac.compare_digest(field, form_token(secret, cookie, session_token)):
        raise CsrfRefused("wrong CSRF token")
