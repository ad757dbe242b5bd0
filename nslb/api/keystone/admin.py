"""Projects, users and domains of the identity API (admins manage; users see themselves)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from nslb.api.http import read_root, respond
from nslb.api.keystone import shapes
from nslb.api.keystone.auth import caller, identity, is_admin, require_admin
from nslb.db import identity as repo
from nslb.db.tables import project as project_t
from nslb.db.tables import user as user_t
from nslb.identity import passwords, tokens
from nslb.identity.passwords import hash_password
from nslb.model.identity import DEFAULT_DOMAIN_ID, Project, User


def _text(body: dict[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"Invalid input for field '{key}': a value is required.")
        return None
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise BadRequest(f"Invalid input for field '{key}': expected a string of at most "
                         f"{limit} characters.")
    return value


def _domain(body: dict[str, Any]) -> None:
    if body.get("domain_id") not in (None, DEFAULT_DOMAIN_ID):
        raise BadRequest("Only the Default domain exists in nslb.")


def _enabled(body: dict[str, Any], default: bool | None) -> bool | None:
    value = body.get("enabled", default)
    if value is not None and not isinstance(value, bool):
        raise BadRequest("Invalid input for field 'enabled': expected a boolean.")
    return value


def _filtered(session: Session, cls: type, table: Any, request: Request) -> list[Any]:
    stmt: Any = select(cls).order_by(table.c.name)
    if request.query_params.get("name"):
        stmt = stmt.where(table.c.name == request.query_params["name"])
    if request.query_params.get("domain_id") not in (None, DEFAULT_DOMAIN_ID):
        return []
    enabled = request.query_params.get("enabled")
    if enabled is not None:
        stmt = stmt.where(table.c.enabled == (enabled.lower() in ("true", "1")))
    return list(session.scalars(stmt))


def _commit(request: Request) -> None:
    """Any identity change may alter who can do what: drop cached validations."""
    identity(request).forget()


# --- projects ------------------------------------------------------------------------


def _project(session: Session, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Could not find project: {project_id}.")
    return project


async def list_projects(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.read() as session:
        projects = _filtered(session, Project, project_t, request)
    return respond({"projects": [shapes.project(request, p) for p in projects],
                    "links": shapes.collection_links(request)})


async def create_project(request: Request) -> Response:
    require_admin(request)
    body = await read_root(request, "project")
    _domain(body)
    project = Project(name=_text(body, "name", 64, True) or "",
                      description=_text(body, "description", 255) or "",
                      enabled=bool(_enabled(body, True)))
    try:
        with request.app.state.db.write() as session:
            session.add(project)
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store project - Duplicate entry "
                       f"found with name {project.name} at domain ID default.") from None
    return respond({"project": shapes.project(request, project)}, 201)


async def show_project(request: Request) -> Response:
    principal = caller(request)
    project_id = request.path_params["id"]
    with request.app.state.db.read() as session:
        project = _project(session, project_id)
        if not is_admin(principal) and not repo.roles_of(session, principal.user.id,
                                                         project_id):
            raise Forbidden("You are not authorized to perform the requested action.")
    return respond({"project": shapes.project(request, project)})


async def update_project(request: Request) -> Response:
    require_admin(request)
    body = await read_root(request, "project")
    try:
        with request.app.state.db.write() as session:
            project = _project(session, request.path_params["id"])
            project.name = _text(body, "name", 64) or project.name
            if "description" in body:
                project.description = _text(body, "description", 255) or ""
            enabled = _enabled(body, None)
            if enabled is not None:
                project.enabled = enabled
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store project - Duplicate entry "
                       f"found with name {body.get('name')} at domain ID default.") from None
    _commit(request)
    return respond({"project": shapes.project(request, project)})


async def delete_project(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.write() as session:
        project = _project(session, request.path_params["id"])
        repo.drop_assignments(session, project_id=project.id)
        session.delete(project)
    _commit(request)
    return Response(status_code=204)


# --- users ---------------------------------------------------------------------------


def _user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"Could not find user: {user_id}.")
    return user


def _self_or_admin(request: Request, user_id: str) -> None:
    principal = caller(request)
    if principal.user.id != user_id and not is_admin(principal):
        raise Forbidden("You are not authorized to perform the requested action.")


async def list_users(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.read() as session:
        users = _filtered(session, User, user_t, request)
    return respond({"users": [shapes.user(request, u) for u in users],
                    "links": shapes.collection_links(request)})


async def create_user(request: Request) -> Response:
    require_admin(request)
    body = await read_root(request, "user")
    _domain(body)
    password = _text(body, "password", 4096)
    user = User(name=_text(body, "name", 255, True) or "",
                description=_text(body, "description", 255) or "",
                enabled=bool(_enabled(body, True)),
                password_hash=hash_password(password) if password else "",
                default_project_id=_text(body, "default_project_id", 64))
    try:
        with request.app.state.db.write() as session:
            if user.default_project_id:
                _project(session, user.default_project_id)
            session.add(user)
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store user - Duplicate entry found "
                       f"with name {user.name} at domain ID default.") from None
    return respond({"user": shapes.user(request, user)}, 201)


async def show_user(request: Request) -> Response:
    _self_or_admin(request, request.path_params["id"])
    with request.app.state.db.read() as session:
        user = _user(session, request.path_params["id"])
    return respond({"user": shapes.user(request, user)})


async def update_user(request: Request) -> Response:
    require_admin(request)
    body = await read_root(request, "user")
    try:
        with request.app.state.db.write() as session:
            user = _user(session, request.path_params["id"])
            user.name = _text(body, "name", 255) or user.name
            if "description" in body:
                user.description = _text(body, "description", 255) or ""
            if "default_project_id" in body:
                user.default_project_id = _text(body, "default_project_id", 64)
            enabled = _enabled(body, None)
            if enabled is not None:
                user.enabled = enabled
                if not enabled:
                    user.tokens_valid_after = tokens.now()
            password = _text(body, "password", 4096)
            if password:
                user.password_hash = hash_password(password)
                user.tokens_valid_after = tokens.now()
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store user - Duplicate entry found "
                       f"with name {body.get('name')} at domain ID default.") from None
    _commit(request)
    return respond({"user": shapes.user(request, user)})


async def change_password(request: Request) -> Response:
    """POST /users/{id}/password: a user changes their own password, knowing the old one."""
    _self_or_admin(request, request.path_params["id"])
    body = await read_root(request, "user")
    original, new = _text(body, "original_password", 4096), _text(body, "password", 4096, True)
    with request.app.state.db.write() as session:
        user = _user(session, request.path_params["id"])
        if not passwords.verify(user.password_hash, original or ""):
            raise Unauthorized()
        user.password_hash = hash_password(new or "")
        user.tokens_valid_after = tokens.now()
    _commit(request)
    return Response(status_code=204)


async def delete_user(request: Request) -> Response:
    require_admin(request)
    with request.app.state.db.write() as session:
        user = _user(session, request.path_params["id"])
        repo.drop_assignments(session, user_id=user.id)
        session.delete(user)
    _commit(request)
    return Response(status_code=204)


async def user_projects(request: Request) -> Response:
    _self_or_admin(request, request.path_params["id"])
    with request.app.state.db.read() as session:
        projects = repo.projects_of(session, _user(session, request.path_params["id"]).id)
    return respond({"projects": [shapes.project(request, p) for p in projects],
                    "links": shapes.collection_links(request)})


# --- domains -------------------------------------------------------------------------


async def list_domains(request: Request) -> Response:
    caller(request)
    name = request.query_params.get("name")
    domains = [] if name not in (None, "Default") else [shapes.domain(request)]
    return respond({"domains": domains, "links": shapes.collection_links(request)})


async def show_domain(request: Request) -> Response:
    caller(request)
    if request.path_params["id"] not in (DEFAULT_DOMAIN_ID, "Default"):
        raise NotFound(f"Could not find domain: {request.path_params['id']}.")
    return respond({"domain": shapes.domain(request)})


def routes() -> list[Route]:
    return [
        Route("/v3/projects", list_projects, methods=["GET"]),
        Route("/v3/projects", create_project, methods=["POST"]),
        Route("/v3/projects/{id}", show_project, methods=["GET"]),
        Route("/v3/projects/{id}", update_project, methods=["PATCH"]),
        Route("/v3/projects/{id}", delete_project, methods=["DELETE"]),
        Route("/v3/users", list_users, methods=["GET"]),
        Route("/v3/users", create_user, methods=["POST"]),
        Route("/v3/users/{id}", show_user, methods=["GET"]),
        Route("/v3/users/{id}", update_user, methods=["PATCH"]),
        Route("/v3/users/{id}", delete_user, methods=["DELETE"]),
        Route("/v3/users/{id}/password", change_password, methods=["POST"]),
        Route("/v3/users/{id}/projects", user_projects, methods=["GET"]),
        Route("/v3/domains", list_domains, methods=["GET"]),
        Route("/v3/domains/{id}", show_domain, methods=["GET"]),
    ]
