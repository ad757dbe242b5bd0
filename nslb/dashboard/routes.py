"""The /dashboard routes: login and logout, the list of load balancers, one load balancer's
page, the two JSON feeds their script polls, and the script and stylesheet themselves.

What a viewer sees is decided as for the API: the session's token gives a Context, the
policy table's rule for reading load balancers must allow it (`policy.allowed`), lookups
are scoped with `Context.scope()` (a member sees its project, an admin or global
observer every project), and amphorae are shown only to whom the rule for the amphora
API allows. Handlers run in worker threads like every API handler (api/offload.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from nslb.api import policy
from nslb.api.context import Context, principal_context
from nslb.api.keystone.auth import source
from nslb.dashboard import csrf, data, pages, session
from nslb.dashboard.forms import BadForm, read_form
from nslb.db.engine import Database
from nslb.db.tree import load_tree
from nslb.health.live import LiveBoard
from nslb.identity.gate import Busy
from nslb.identity.refs import ProjectRef, UserRef
from nslb.identity.service import AuthFailed

READ = policy.rule_for("GET", "/lbaas/loadbalancers")
AMPHORAE = policy.rule_for("GET", "/octavia/amphorae")
LOGIN_FIELDS = frozenset({"username", "password", "project", csrf.FIELD})
STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {"dashboard.js": "text/javascript; charset=utf-8",
                "dashboard.css": "text/css; charset=utf-8"}
WRONG_LOGIN = "The user name, password or project is wrong."
STALE_FORM = "The form expired or did not come from this site. Please try again."


@dataclass(frozen=True)
class Who:
    """The header's account line."""

    user: str
    project: str
    all_projects: bool
    can_logout: bool


def _db(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def _live(request: Request) -> LiveBoard | None:
    board: LiveBoard | None = getattr(request.app.state, "live", None)
    return board


def _secret(request: Request) -> bytes:
    secret: bytes = request.app.state.dashboard_secret
    return secret


def _public_origin(request: Request) -> str | None:
    url = request.app.state.settings.public_url
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page(request: Request, template: str, status: int = 200, **values: object) -> Response:
    """A page with a CSRF token for its forms, bound to this browser's CSRF cookie (set
    here if it has none) and to its session."""
    cookie = request.cookies.get(csrf.COOKIE) or csrf.new_cookie_value()
    token = csrf.form_token(_secret(request), cookie, session.session_token(request))
    response = pages.page(template, status, csrf=token, **values)
    if request.cookies.get(csrf.COOKIE) != cookie:
        session.set_cookie(response, request, csrf.COOKIE, cookie, None)
    return response


def _error(request: Request, status: int, message: str) -> Response:
    return _page(request, "error.html", status, who=None, message=message)


def _to_login(request: Request) -> Response:
    response = pages.secured(RedirectResponse("/dashboard/login", 303))
    if session.session_token(request):
        session.end(response, request)  # expired or revoked: drop it
    return response


def _who(request: Request, ctx: Context) -> Who:
    found = session.principal(request)
    if found is None:  # noauth
        return Who("(auth is off)", "every project", True, False)
    project = found.project.name if found.project else ""
    return Who(found.user.name, project, ctx.scope() is None, True)


def _viewer(request: Request) -> Context | Response:
    """The logged-in viewer allowed to read load balancers, or the page to answer."""
    ctx = session.viewer(request)
    if ctx is None:
        return _to_login(request)
    if not policy.allowed(ctx, READ):
        return _error(request, 403, "Your role in this project may not read load balancers.")
    return ctx


def _feed_viewer(request: Request) -> Context | Response:
    """As _viewer, for the JSON feeds: a status code instead of a page."""
    ctx = session.viewer(request)
    if ctx is None:
        return pages.data({"error": "login required"}, 401)
    if not policy.allowed(ctx, READ):
        return pages.data({"error": policy.DENIED}, 403)
    return ctx


# --- pages ------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    ctx = _viewer(request)
    if isinstance(ctx, Response):
        return ctx
    with _db(request).read() as db_session:
        rows = [data.lb_row(lb) for lb in data.visible_lbs(db_session, ctx)]
    return _page(request, "index.html", who=_who(request, ctx), lbs=rows,
                 all_projects=ctx.scope() is None, truncated=len(rows) >= data.MAX_LISTED)


async def loadbalancer(request: Request) -> Response:
    ctx = _viewer(request)
    if isinstance(ctx, Response):
        return ctx
    live, see_amphorae = _live(request), policy.allowed(ctx, AMPHORAE)
    with _db(request).read() as db_session:
        lb = data.visible_lb(db_session, ctx, request.path_params["lb_id"])
        if lb is None:
            return _error(request, 404, "No such load balancer.")
        tree = load_tree(db_session, lb)
        amphorae = data.amphorae(db_session, lb.id, live) if see_amphorae else None
        events = data.events(db_session, tree, see_amphorae)
    return _page(request, "loadbalancer.html", who=_who(request, ctx),
                 tree=data.tree_view(tree), label=data.label, amphorae=amphorae,
                 events=events, all_projects=ctx.scope() is None)


async def redirect_root(request: Request) -> Response:
    return pages.secured(RedirectResponse("/dashboard/", 307))


# --- login and logout -------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    if session.identity_of(request) is None or session.principal(request) is not None:
        return pages.secured(RedirectResponse("/dashboard/", 303))
    return _page(request, "login.html", who=None, error="", username="", project="")


async def login(request: Request) -> Response:
    service = session.identity_of(request)
    if service is None:
        return pages.secured(RedirectResponse("/dashboard/", 303))
    try:
        form = await read_form(request, LOGIN_FIELDS)
        csrf.check(request, _secret(request), form[csrf.FIELD], None, _public_origin(request))
    except BadForm:
        return _error(request, 400, "That is not a login form this dashboard sent.")
    except csrf.CsrfRefused:
        return _login_again(request, 403, STALE_FORM, form)
    if not form["username"] or not form["password"]:
        return _login_again(request, 400, "Enter a user name and a password.", form)
    ref = UserRef(name=form["username"])
    scope = ProjectRef(name=form["project"]) if form["project"] else None
    client = source(request)
    wait = service.admit(client, ref)
    if wait > 0:
        response = _login_again(request, 429, "Too many failed logins from this address; "
                                f"try again in {max(1, round(wait))} s.", form)
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    try:
        token, who = service.password_login(client, ref, form["password"], scope)
    except Busy:
        return _login_again(request, 503, "Too many logins at once; try again shortly.", form)
    except AuthFailed:
        return _login_again(request, 401, WRONG_LOGIN, form)
    refusal = _refusal(principal_context(who))
    if refusal:
        service.revoke(token)
        return _login_again(request, 403, refusal, form)
    response = pages.secured(RedirectResponse("/dashboard/", 303))
    session.start(response, request, token, who)
    return response


def _refusal(ctx: Context) -> str:
    if ctx.project_id is None:
        return "Name a project: your user has no default project to log in to."
    if not policy.allowed(ctx, READ):
        return "Your role in this project may not read load balancers."
    return ""


def _login_again(request: Request, status: int, error: str,
                 form: dict[str, str] | None) -> Response:
    """The login form again with what was typed (never the password) and why."""
    form = form or {}
    return _page(request, "login.html", status, who=None, error=error,
                 username=form.get("username", ""), project=form.get("project", ""))


async def logout(request: Request) -> Response:
    token = session.session_token(request)
    try:
        form = await read_form(request, frozenset({csrf.FIELD}))
        csrf.check(request, _secret(request), form[csrf.FIELD], token, _public_origin(request))
    except BadForm:
        return _error(request, 400, "That is not a logout form this dashboard sent.")
    except csrf.CsrfRefused:
        return _error(request, 403, STALE_FORM)
    service = session.identity_of(request)
    if service is not None and token is not None:
        # already expired or revoked: the session is over either way
        with contextlib.suppress(AuthFailed):
            service.revoke(token)
    response = pages.secured(RedirectResponse("/dashboard/login", 303))
    session.end(response, request)
    return response


# --- the feeds the pages poll ---------------------------------------------------------


async def feed_list(request: Request) -> Response:
    ctx = _feed_viewer(request)
    if isinstance(ctx, Response):
        return ctx
    with _db(request).read() as db_session:
        rows = [data.lb_row(lb) for lb in data.visible_lbs(db_session, ctx)]
    return pages.data({"loadbalancers": rows, "all_projects": ctx.scope() is None})


async def feed_lb(request: Request) -> Response:
    ctx = _feed_viewer(request)
    if isinstance(ctx, Response):
        return ctx
    with _db(request).read() as db_session:
        lb = data.visible_lb(db_session, ctx, request.path_params["lb_id"])
        if lb is None:
            return pages.data({"error": "No such load balancer."}, 404)
        body = data.detail(db_session, lb, _live(request), policy.allowed(ctx, AMPHORAE))
    return pages.data(body)


# --- static files -----------------------------------------------------------------------

STATIC = {name: (STATIC_DIR / name).read_bytes() for name in STATIC_TYPES}


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return pages.data({"error": "not found"}, 404)
    response = pages.secured(Response(STATIC[name], media_type=STATIC_TYPES[name]))
    response.headers["Cache-Control"] = "no-cache"
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/dashboard", redirect_root, methods=["GET"]),
        Mount("/dashboard", routes=[
            Route("/", index, methods=["GET"]),
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/loadbalancers/{lb_id}", loadbalancer, methods=["GET"]),
            Route("/api/loadbalancers", feed_list, methods=["GET"]),
            Route("/api/loadbalancers/{lb_id}", feed_lb, methods=["GET"]),
            Route("/static/{name}", static, methods=["GET"]),
        ]),
    ]
