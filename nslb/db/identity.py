"""Repositories of the embedded identity service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from nslb.db.tables import project as project_t
from nslb.db.tables import revoked_token as revoked_t
from nslb.db.tables import role as role_t
from nslb.db.tables import role_assignment as assignment_t
from nslb.db.tables import user as user_t
from nslb.model.identity import Project, RevokedToken, Role, RoleAssignment, User


def extra_of(obj: Project | User) -> dict[str, Any]:
    """The Keystone extras stored with a user or project (the `extra` column). The model
    dataclasses do not declare the column yet, so it is reached by name here only."""
    value = getattr(obj, "extra", None)
    return dict(value) if value else {}


def set_extra(obj: Project | User, extras: dict[str, Any]) -> None:
    """Store a new dict (never mutate the loaded one: the ORM would not see the change)."""
    setattr(obj, "extra", dict(extras))  # noqa: B010 (see extra_of)


def user_by_name(session: Session, name: str, domain_id: str) -> User | None:
    stmt = select(User).where(user_t.c.name == name, user_t.c.domain_id == domain_id)
    return session.scalars(stmt).first()


def project_by_name(session: Session, name: str, domain_id: str) -> Project | None:
    stmt = select(Project).where(project_t.c.name == name, project_t.c.domain_id == domain_id)
    return session.scalars(stmt).first()


def role_by_name(session: Session, name: str) -> Role | None:
    return session.scalars(select(Role).where(role_t.c.name == name)).first()


def roles_of(session: Session, user_id: str, project_id: str) -> list[Role]:
    """The user's roles on the project, by name order (what a scoped token carries)."""
    stmt = (select(Role).join(assignment_t, assignment_t.c.role_id == role_t.c.id)
            .where(assignment_t.c.user_id == user_id, assignment_t.c.project_id == project_id)
            .order_by(role_t.c.name))
    return list(session.scalars(stmt))


def projects_of(session: Session, user_id: str) -> list[Project]:
    stmt = (select(Project).join(assignment_t, assignment_t.c.project_id == project_t.c.id)
            .where(assignment_t.c.user_id == user_id).distinct().order_by(project_t.c.name))
    return list(session.scalars(stmt))


def assignments(session: Session, *, user_id: str | None = None,
                project_id: str | None = None,
                role_id: str | None = None) -> list[RoleAssignment]:
    stmt = select(RoleAssignment)
    if user_id:
        stmt = stmt.where(assignment_t.c.user_id == user_id)
    if project_id:
        stmt = stmt.where(assignment_t.c.project_id == project_id)
    if role_id:
        stmt = stmt.where(assignment_t.c.role_id == role_id)
    return list(session.scalars(stmt))


def assign(session: Session, user_id: str, project_id: str, role_id: str) -> None:
    if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
        session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))


def unassign(session: Session, user_id: str, project_id: str, role_id: str) -> bool:
    result = session.execute(delete(assignment_t).where(
        assignment_t.c.user_id == user_id, assignment_t.c.project_id == project_id,
        assignment_t.c.role_id == role_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def drop_assignments(session: Session, *, user_id: str | None = None,
                     project_id: str | None = None, role_id: str | None = None) -> None:
    stmt = delete(assignment_t)
    if user_id:
        stmt = stmt.where(assignment_t.c.user_id == user_id)
    if project_id:
        stmt = stmt.where(assignment_t.c.project_id == project_id)
    if role_id:
        stmt = stmt.where(assignment_t.c.role_id == role_id)
    session.execute(stmt)


def revoke(session: Session, audit_id: str, expires_at: datetime) -> None:
    if session.get(RevokedToken, audit_id) is None:
        session.add(RevokedToken(audit_id=audit_id, expires_at=expires_at))


def is_revoked(session: Session, audit_id: str) -> bool:
    return session.get(RevokedToken, audit_id) is not None


def any_revoked(session: Session, audit_ids: Sequence[str]) -> bool:
    """Whether any of a token's lineage (its own audit id and its chain's) is revoked."""
    stmt = select(revoked_t.c.audit_id).where(revoked_t.c.audit_id.in_(list(audit_ids)))
    return session.execute(stmt.limit(1)).first() is not None


def purge_revocations(session: Session, now: datetime) -> None:
    session.execute(delete(revoked_t).where(revoked_t.c.expires_at < now))
