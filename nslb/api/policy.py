"""Who may do what: Octavia's and Neutron's default roles in one table.

Every Octavia and Neutron route passes through `guard`, which picks the rule for the
request from RULES (first match on method and path) and checks the caller's roles.
Project isolation is separate: lookups are scoped to the caller's project unless the
caller may see everything, so other projects' objects answer 404; a global observer, who
sees them, gets Octavia's 403 when it tries to change one (common.find).
"""

from __future__ import annotations

import re
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from nslb.api.context import Context
from nslb.api.faults import Forbidden
from nslb.api.http import Handler, context
from nslb.api.personas import ADMIN, QUOTA_WRITE, READ, WRITE

ROLES = {"read": READ, "write": WRITE, "quota_write": QUOTA_WRITE, "admin": ADMIN}

# (methods, path regex, rule): the first match wins. Paths are relative to the API prefix.
RULES: list[tuple[frozenset[str], re.Pattern[str], str]] = [
    (frozenset({"PUT", "DELETE"}), re.compile(r".*/quotas/"), "quota_write"),
    (frozenset({"PUT"}), re.compile(r".*/failover$"), "admin"),
    (frozenset({"GET", "POST", "PUT", "DELETE"}), re.compile(r".*/octavia/amphorae"), "admin"),
    (frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"}), re.compile(r".*/lbaas/hosts"), "admin"),
    (frozenset({"POST", "PUT", "DELETE"}),
     re.compile(r".*/(flavors|flavorprofiles|availabilityzones|availabilityzoneprofiles)"),
     "admin"),
    # Octavia: profiles and the providers' capability lists are for admins only
    (frozenset({"GET", "HEAD"}),
     re.compile(r".*/(flavorprofiles|availabilityzoneprofiles)(/|$)"
                r"|.*/providers/[^/]+/(flavor|availability_zone)_capabilities$"), "admin"),
    (frozenset({"GET", "HEAD"}), re.compile(r".*"), "read"),
    (frozenset({"POST", "PUT", "PATCH", "DELETE"}), re.compile(r".*"), "write"),
]

DENIED = "Policy does not allow this request to be performed."
OPEN = frozenset({"", "/", "/v2.0", "/v2.0/"})


def rule_for(method: str, path: str) -> str:
    for methods, pattern, rule in RULES:
        if method in methods and pattern.match(path):
            return rule
    return "admin"


def allowed(ctx: Context, rule: str) -> bool:
    return bool(ctx.roles & ROLES[rule])


def enforce(ctx: Context, rule: str) -> None:
    if not allowed(ctx, rule):
        raise Forbidden(DENIED)


def enforce_quota_read(ctx: Context, project_id: str) -> None:
    """Octavia's read-quota: one's own project, else a global reader or quota admin."""
    if project_id != ctx.project_id and not (ctx.sees_all_projects
                                             or ctx.roles & QUOTA_WRITE):
        raise Forbidden(DENIED)


def quota_target(path: str, request: Request) -> str | None:
    """The project whose quota a read names, if it reads one. Octavia takes
    `/quotas/defaults` as the quota of a project called "defaults" (pecan routes the word as
    the project id), so only a global reader or quota admin may read it."""
    if path.endswith(("/quotas/{project_id}", "/quotas/{project_id}/default")):
        project: str = request.path_params["project_id"]
        return project
    if path.endswith("/quotas/defaults"):
        return "defaults"
    return None


def _guarded(endpoint: Handler, path: str) -> Handler:
    async def guarded(request: Request) -> Response:
        ctx, rule = context(request), rule_for(request.method, path)
        enforce(ctx, rule)
        quota_project = quota_target(path, request) if rule == "read" else None
        if quota_project is not None:
            enforce_quota_read(ctx, quota_project)
        if rule != "read":  # lookups of a change are scoped to what the caller may change
            request.state.ctx = replace(ctx, writing=True)
        return await endpoint(request)

    guarded.__name__ = getattr(endpoint, "__name__", "endpoint")
    return guarded


def guard(routes: list[BaseRoute], prefix: str = "") -> list[BaseRoute]:
    """The same routes, each endpoint first authenticating the caller and checking RULES.

    Version documents stay open, as in Octavia and Neutron: clients read them before
    they have a token.
    """
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Mount):
            out.append(Mount(route.path, routes=guard(list(route.routes), prefix + route.path)))
        elif isinstance(route, Route) and route.path not in OPEN:
            out.append(Route(route.path, _guarded(route.endpoint, prefix + route.path),
                             methods=sorted(route.methods or [])))
        else:
            out.append(route)
    return out
