"""Barbican's default policy (the new defaults, barbican/common/policies/*.py) for the
roles nslb has: who may do what to a secret or a container.

Keystone's default roles imply each other (admin > member > reader) and Barbican's
rules rely on that (`role:member` admits an admin); nslb grants roles without
implications, so `Caller.of` adds them. Rules, as Barbican writes them:

- project_admin: admin in the entity's project; project_member: member there;
- owner: the caller created the entity; not_private: the read ACL keeps project access;
- acl_read: the caller is a user of the entity's read ACL, in any project.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

IMPLIED = {"admin": ("member", "reader"), "member": ("reader",)}


@dataclass(frozen=True)
class Caller:
    project_id: str | None
    user_id: str | None
    roles: frozenset[str]

    @classmethod
    def of(cls, project_id: str | None, user_id: str | None, roles: frozenset[str]) -> Caller:
        implied = {r for role in roles for r in IMPLIED.get(role, ())}
        return cls(project_id, user_id, frozenset(roles) | implied)

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Target:
    """What the rules look at on a secret or container, as seen by one caller."""

    project_id: str
    creator_id: str | None
    project_access: bool
    acl_read: bool


Rule = Callable[[Caller, Target], bool]


def _same_project(c: Caller, t: Target) -> bool:
    return c.project_id is not None and c.project_id == t.project_id


def project_admin(c: Caller, t: Target) -> bool:
    return c.has("admin") and _same_project(c, t)


def _member_reads(c: Caller, t: Target) -> bool:
    """(project_member and owner) or (project_member and not_private)."""
    owner = c.user_id is not None and c.user_id == t.creator_id
    return c.has("member") and _same_project(c, t) and (owner or t.project_access)


def manage(c: Caller, t: Target) -> bool:
    """secret:put, secret_acls:*, container:delete, container_acls:*,
    container_secret:post/delete."""
    return project_admin(c, t) or _member_reads(c, t)


def read(c: Caller, t: Target) -> bool:
    """secret:decrypt, container:get, secret_consumers:*."""
    return manage(c, t) or t.acl_read


def get_secret(c: Caller, t: Target) -> bool:
    """secret:get: any admin may read metadata, whatever the project."""
    return c.has("admin") or read(c, t)


def delete_secret(c: Caller, t: Target) -> bool:
    """secret:delete: any admin, or as manage."""
    return c.has("admin") or manage(c, t)


def project_collection(c: Caller) -> bool:
    """secrets:get/post, containers:get/post: role:member."""
    return c.has("member")
