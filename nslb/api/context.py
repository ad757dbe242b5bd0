"""Who is calling. In noauth mode (as in Octavia's noauth) the caller is an admin whose
project comes from X-Project-Id / X-Tenant-Id / X-Tenant, or from project_id in a body."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from nslb.api.faults import BadRequest

PROJECT_HEADERS = ("x-project-id", "x-tenant-id", "x-tenant")


@dataclass(frozen=True)
class Context:
    project_id: str | None
    is_admin: bool = True

    def require_project(self, body_project: str | None = None) -> str:
        """The project a new object belongs to; 400 as Octavia says when there is none."""
        project = body_project or self.project_id
        if not project:
            raise BadRequest("Missing project ID in request where one is required")
        if body_project and self.project_id and body_project != self.project_id \
                and not self.is_admin:
            raise BadRequest("Only admins may create objects in another project")
        return project

    def scope(self) -> str | None:
        """Project to restrict queries to; None means every project (admin)."""
        return None if self.is_admin else self.project_id


def noauth_context(request: Request) -> Context:
    for header in PROJECT_HEADERS:
        value = request.headers.get(header)
        if value:
            return Context(project_id=value, is_admin=True)
    return Context(project_id=None, is_admin=True)
