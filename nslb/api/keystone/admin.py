"""Projects, users and domains of the identity API (admins manage; users see themselves)."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from nslb.api.http import read_root, respond
from nslb.api.keystone import schemas, shapes
from nslb.api.keystone.auth import (
    busy,
    caller,
    identity,
    is_admin,
    require_admin,
    source,
    too_many,
)
from nslb.db import identity as repo
from nslb.db.tables import project as project_t
from nslb.db.tables import user as user_t
from nslb.identity import extras, tokens
from nslb.identity.gate import Busy
from nslb.identity.passwords import hash_password
from nslb.identity.refs import UserRef
from nslb.model.identity import DEFAULT_DOMAIN_ID, Project, User


def _domain(domain_id: str | None) -> None:
    if domain_id not in (None, DEFAULT_DOMAIN_ID):
        raise BadRequest("Only the Default domain exists in nslb.")


def _filtered(session: Session, cls: type, table: Any, request: Request) -> list[Any]:
    stmt: Any = select(cls).order_by(table.c.name)
    try:
        name = schemas.filter_value(request.query_params.get("name"))
    except schemas.NoMatch:
        return []
    if name:
        stmt = stmt.where(table.c.name == name)
    if request.query_params.get("domain_id") not in (None, DEFAULT_DOMAIN_ID):
        return []
    enabled = request.query_params.get("enabled")
    if enabled is not None:
        stmt = stmt.where(table.c.enabled == (enabled.lower() in ("true", "1")))
    return list(session.scalars(stmt))


def _extras(body: dict[str, Any], attributes: frozenset[str],
            current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The extras a create (current None) or an update leaves on the object; 400 when they
    would not fit Keystone's column."""
    try:
        new = extras.picked(body, attributes)
        return extras.checked(new) if current is None else extras.merged(current, new)
    except extras.ExtrasTooLarge as exc:
        raise BadRequest(str(exc)) from None


def _same_id(body: dict[str, Any], ident: str) -> None:
    """Keystone's _require_matching_id: an update may repeat the id, never change it."""
    if body.get("id") is not None and body["id"] != ident:
        raise BadRequest("Cannot change ID")


def _commit(request: Request) -> None:
    """Any identity change may alter who can do what: drop cached validations."""
    identity(request).forget()


# --- projects ------------------------------------------------------------------------


def _project(session: Session, project_id: str) -> Project:
    project = session.get(Project, schemas.path_id(project_id, "project"))
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
    raw = extras.normalized(await read_root(request, "project"))
    body = schemas.parse(schemas.ProjectCreate, raw)
    _domain(body.domain_id)
    project = Project(name=body.name, description=body.description or "",
                      enabled=body.enabled is not False)
    repo.set_extra(project, _extras(raw, extras.PROJECT_ATTRIBUTES))
    try:
        with request.app.state.db.write() as session:
            session.add(project)
    except IntegrityError:
        raise _duplicate("project", project.name) from None
    return respond({"project": shapes.project(request, project)}, 201)


def _duplicate(kind: str, name: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store {kind} - Duplicate entry found "
                    f"with name {name[:64]} at domain ID default.")


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
    raw = await read_root(request, "project")
    _same_id(raw, request.path_params["id"])
    body = schemas.parse(schemas.ProjectUpdate, raw)
    try:
        with request.app.state.db.write() as session:
            project = _project(session, request.path_params["id"])
            repo.set_extra(project, _extras(raw, extras.PROJECT_ATTRIBUTES,
                                            repo.extra_of(project)))
            project.name = body.name or project.name
            if "description" in body.model_fields_set:
                project.description = body.description or ""
            if body.enabled is not None:
                project.enabled = body.enabled
    except IntegrityError:
        raise _duplicate("project", body.name or "") from None
    _commit(request)
    return respond({"project": shapes.project(request, project, updated=True)})


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
    user = session.get(User, schemas.path_id(user_id, "user"))
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
    raw = extras.normalized(await read_root(request, "user"))
    body = schemas.parse(schemas.UserCreate, raw)
    _domain(body.domain_id)
    found = _extras(raw, extras.USER_ATTRIBUTES)
    password_hash = await _hash(body.password) if body.password else ""
    user = User(name=body.name, description=body.description or "",
                enabled=body.enabled is not False, password_hash=password_hash,
                default_project_id=body.default_project_id)
    repo.set_extra(user, found)
    try:
        with request.app.state.db.write() as session:
            if user.default_project_id:
                _project(session, user.default_project_id)
            session.add(user)
    except IntegrityError:
        raise _duplicate("user", user.name) from None
    return respond({"user": shapes.user(request, user)}, 201)


async def _hash(password: str) -> str:
    """argon2 is ~50 ms of CPU: never on the event loop."""
    hashed: str = await to_thread.run_sync(hash_password, password)
    return hashed


async def show_user(request: Request) -> Response:
    _self_or_admin(request, request.path_params["id"])
    with request.app.state.db.read() as session:
        user = _user(session, request.path_params["id"])
    return respond({"user": shapes.user(request, user)})


async def update_user(request: Request) -> Response:
    require_admin(request)
    raw = await read_root(request, "user")
    _same_id(raw, request.path_params["id"])
    body = schemas.parse(schemas.UserUpdate, raw)
    password_hash = await _hash(body.password) if body.password else None
    try:
        with request.app.state.db.write() as session:
            user = _user(session, request.path_params["id"])
            repo.set_extra(user, _extras(raw, extras.USER_ATTRIBUTES, repo.extra_of(user)))
            user.name = body.name or user.name
            if "description" in body.model_fields_set:
                user.description = body.description or ""
            if "default_project_id" in body.model_fields_set:
                user.default_project_id = body.default_project_id
            if body.enabled is not None:
                user.enabled = body.enabled
                if not body.enabled:
                    user.tokens_valid_after = tokens.now()
            if password_hash:
                user.password_hash = password_hash
                user.tokens_valid_after = tokens.now()
    except IntegrityError:
        raise _duplicate("user", body.name or "") from None
    _commit(request)
    return respond({"user": shapes.user(request, user, updated=True)})


async def change_password(request: Request) -> Response:
    """POST /users/{id}/password: a user changes their own password, knowing the old one.
    The old password is a guess like a login's: throttled per (source, user), checked off
    the event loop within the gate."""
    user_id = request.path_params["id"]
    _self_or_admin(request, user_id)
    body = schemas.parse(schemas.PasswordChange, await read_root(request, "user"))
    service, client = identity(request), source(request)
    with request.app.state.db.read() as session:
        stored = _user(session, user_id).password_hash
    wait = service.admit(client, UserRef(id=user_id))
    if wait > 0:
        return too_many(wait)
    try:
        ok = await to_thread.run_sync(service.verify_password, stored,
                                      body.original_password or "")
    except Busy:
        service.throttle.refund(client, UserRef(id=user_id).throttle_key)
        return busy()
    if not ok:
        raise Unauthorized()
    service.throttle.succeeded(client, UserRef(id=user_id).throttle_key)
    new_hash = await _hash(body.password)
    with request.app.state.db.write() as session:
        user = _user(session, user_id)
        user.password_hash = new_hash
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
        raise NotFound(f"Could not find domain: {request.path_params['id'][:64]}.")
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
