"""Roles, role grants on projects, and /role_assignments (what `openstack role ...` uses)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Conflict, NotFound
from nslb.api.http import read_root, respond
from nslb.api.keystone import schemas, shapes
from nslb.api.keystone.auth import caller, identity, is_admin, require_admin
from nslb.db import identity as repo
from nslb.db.tables import role as role_t
from nslb.model.identity import Project, Role, RoleAssignment, User


def _role(session: Session, role_id: str) -> Role:
    role = session.get(Role, schemas.path_id(role_id, "role"))
    if role is None:
        raise NotFound(f"Could not find role: {role_id}.")
    return role


async def list_roles(request: Request) -> Response:
    require_admin(request)
    stmt: Any = select(Role).order_by(role_t.c.name)
    try:
        name = schemas.filter_value(request.query_params.get("name"))
    except schemas.NoMatch:
        return respond({"roles": [], "links": shapes.collection_links(request)})
    if name:
        stmt = stmt.where(role_t.c.name == name)
    with request.app.state.db.read() as session:
        roles = list(session.scalars(stmt))
    return respond({"roles": [shapes.role(request, r) for r in roles],
                    "links": shapes.collection_links(request)})


async def create_role(request: Request) -> Response:
    require_admin(request)
    body = schemas.parse(schemas.RoleCreate, await read_root(request, "role"))
    if body.domain_id is not None:
        raise BadRequest("nslb has no domain-specific roles.")
    role = Role(name=body.name, description=body.description or "")
    try:
        with request.app.state.db.write() as session:
            session.add(role)
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store role - Duplicate entry found "
                       f"with name {body.name[:64]}.") from None
    return respond({"role": shapes.role(request, role)}, 201)


async def show_role(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.read() as session:
        role = _role(session, request.path_params["id"])
    return respond({"role": shapes.role(request, role)})


async def delete_role(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.write() as session:
        role = _role(session, request.path_params["id"])
        repo.drop_assignments(session, role_id=role.id)
        session.delete(role)
    identity(request).forget()
    return Response(status_code=204)


def _grant_target(session: Session, request: Request) -> tuple[str, str, str]:
    p = request.path_params
    project_id = schemas.path_id(p["project_id"], "project")
    user_id = schemas.path_id(p["user_id"], "user")
    if session.get(Project, project_id) is None:
        raise NotFound(f"Could not find project: {project_id}.")
    if session.get(User, user_id) is None:
        raise NotFound(f"Could not find user: {user_id}.")
    return user_id, project_id, _role(session, p["role_id"]).id


async def grant(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.write() as session:
        repo.assign(session, *_grant_target(session, request))
    identity(request).forget()
    return Response(status_code=204)


async def check_grant(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.read() as session:
        key = _grant_target(session, request)
        if session.get(RoleAssignment, key) is None:
            raise NotFound(f"Could not find role assignment with role: {key[2]}, user or "
                           f"group: {key[0]}, project, domain, or system: {key[1]}.")
    return Response(status_code=204)


async def revoke_grant(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.write() as session:
        key = _grant_target(session, request)
        if not repo.unassign(session, *key):
            raise NotFound(f"Could not find role assignment with role: {key[2]}, user or "
                           f"group: {key[0]}, project, domain, or system: {key[1]}.")
    identity(request).forget()
    return Response(status_code=204)


async def roles_on_project(request: Request) -> Response:
    require_admin(request)
    p = request.path_params
    user_id = schemas.path_id(p["user_id"], "user")
    project_id = schemas.path_id(p["project_id"], "project")
    with request.app.state.db.read() as session:
        roles = repo.roles_of(session, user_id, project_id)
    return respond({"roles": [shapes.role(request, r) for r in roles],
                    "links": shapes.collection_links(request)})


def _assignment(request: Request, a: RoleAssignment, names: dict[str, str] | None) -> Any:
    base = shapes.v3(request)
    out: dict[str, Any] = {
        "role": {"id": a.role_id}, "user": {"id": a.user_id},
        "scope": {"project": {"id": a.project_id}},
        "links": {"assignment": f"{base}/projects/{a.project_id}/users/{a.user_id}/roles/"
                                f"{a.role_id}"},
    }
    if names is not None:
        domain = {"id": "default", "name": "Default"}
        out["role"]["name"] = names.get(a.role_id, "")
        out["user"].update(name=names.get(a.user_id, ""), domain=domain)
        out["scope"]["project"].update(name=names.get(a.project_id, ""), domain=domain)
    return out


async def role_assignments(request: Request) -> Response:
    """Admins see every assignment; other users only their own."""
    principal = caller(request)
    q = request.query_params
    empty = respond({"role_assignments": [], "links": shapes.collection_links(request)})
    try:
        user_id, project_id, role_id = (schemas.filter_value(q.get(k), schemas.ID_MAX)
                                        for k in ("user.id", "scope.project.id", "role.id"))
    except schemas.NoMatch:
        return empty
    if q.get("group.id") or q.get("scope.domain.id") or q.get("scope.system"):
        return empty  # nslb has no groups, domain or system assignments
    if not is_admin(principal):
        if user_id not in (None, principal.user.id):
            return empty
        user_id = principal.user.id
    with request.app.state.db.read() as session:
        found = repo.assignments(session, user_id=user_id, project_id=project_id,
                                 role_id=role_id)
        wants_names = q.get("include_names", "false").lower() in ("true", "1", "")
        names = _names(session, found) if wants_names else None
    return respond({"role_assignments": [_assignment(request, a, names) for a in found],
                    "links": shapes.collection_links(request)})


def _names(session: Session, found: list[RoleAssignment]) -> dict[str, str]:
    names: dict[str, str] = {}
    for a in found:
        for cls, ident in ((Role, a.role_id), (User, a.user_id), (Project, a.project_id)):
            if ident not in names:
                obj: Any = session.get(cls, ident)
                names[ident] = obj.name if obj is not None else ""
    return names


def routes() -> list[Route]:
    grants = "/v3/projects/{project_id}/users/{user_id}/roles"
    return [
        Route("/v3/roles", list_roles, methods=["GET"]),
        Route("/v3/roles", create_role, methods=["POST"]),
        Route("/v3/roles/{id}", show_role, methods=["GET"]),
        Route("/v3/roles/{id}", delete_role, methods=["DELETE"]),
        Route(grants, roles_on_project, methods=["GET"]),
        Route(grants + "/{role_id}", grant, methods=["PUT"]),
        Route(grants + "/{role_id}", check_grant, methods=["HEAD", "GET"]),
        Route(grants + "/{role_id}", revoke_grant, methods=["DELETE"]),
        Route("/v3/role_assignments", role_assignments, methods=["GET"]),
    ]
