"""Who is calling.

noauth (as in Octavia's noauth): every caller is an admin, and the project comes from
X-Project-Id / X-Tenant-Id / X-Tenant or from project_id in a body.
keystone: the caller is the principal of a valid project-scoped X-Auth-Token, with the
roles it has on that project now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from nslb.api import personas
from nslb.api.faults import BadRequest, Forbidden, Unauthorized
from nslb.identity.service import AuthFailed, Identity, Principal

PROJECT_HEADERS = ("x-project-id", "x-tenant-id", "x-tenant")
NOAUTH_ROLES = frozenset({"admin", "member", "reader"})


@dataclass(frozen=True)
class Context:
    project_id: str | None
    roles: frozenset[str] = NOAUTH_ROLES
    user_id: str | None = None
    # Set by the policy guard for requests that change something: a global observer
    # reads every project but changes only its own.
    writing: bool = False

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & personas.ADMIN)

    @property
    def sees_all_projects(self) -> bool:
        roles = personas.ADMIN if self.writing else personas.GLOBAL_READ
        return bool(self.roles & roles)

    @property
    def reads_all_projects(self) -> bool:
        """May read every project's objects (an admin or a global observer), whether or
        not this request changes something."""
        return bool(self.roles & personas.GLOBAL_READ)

    def require_project(self, body_project: str | None = None) -> str:
        """The project a new object belongs to; 400 as Octavia says when there is none."""
        project = body_project or self.project_id
        if not project:
            raise BadRequest("Missing project ID in request where one is required")
        if body_project and body_project != self.project_id and not self.is_admin:
            raise Forbidden("Policy does not allow this request to be performed.")
        return project

    def scope(self) -> str | None:
        """Project to restrict lookups to; None means every project."""
        return None if self.sees_all_projects else self.project_id


def noauth_context(request: Request) -> Context:
    for header in PROJECT_HEADERS:
        value = request.headers.get(header)
        if value:
            return Context(project_id=value)
    return Context(project_id=None)


def keystone_context(identity: Identity) -> Callable[[Request], Context]:
    def context_for(request: Request) -> Context:
        token = request.headers.get("x-auth-token")
        if not token:
            raise Unauthorized()
        try:
            principal = identity.validate(token)
        except AuthFailed:
            raise Unauthorized() from None
        return principal_context(principal)

    return context_for


def principal_context(principal: Principal) -> Context:
    """The caller a valid token speaks for (also the dashboard's, from its cookie)."""
    if principal.project is None:  # an unscoped token carries no roles
        return Context(project_id=None, roles=frozenset(), user_id=principal.user.id)
    return Context(project_id=principal.project.id, roles=principal.role_names,
                   user_id=principal.user.id)
