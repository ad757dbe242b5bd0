"""Identity objects of the embedded Keystone-compatible service (Default domain only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from nslb.model.resources import utcnow

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"


def new_hex_id() -> str:
    """Keystone ids are 32 hex digits."""
    return uuid.uuid4().hex


@dataclass(kw_only=True, eq=False)
class Project:
    id: str = field(default_factory=new_hex_id)
    name: str = ""
    description: str = ""
    domain_id: str = DEFAULT_DOMAIN_ID
    enabled: bool = True
    created_at: datetime = field(default_factory=utcnow)


@dataclass(kw_only=True, eq=False)
class User:
    id: str = field(default_factory=new_hex_id)
    name: str = ""
    description: str = ""
    domain_id: str = DEFAULT_DOMAIN_ID
    enabled: bool = True
    password_hash: str = ""
    default_project_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    # Tokens issued before this instant are void (set by password changes and disabling).
    tokens_valid_after: datetime | None = None


@dataclass(kw_only=True, eq=False)
class Role:
    id: str = field(default_factory=new_hex_id)
    name: str = ""
    description: str = ""
    created_at: datetime = field(default_factory=utcnow)


@dataclass(kw_only=True, eq=False)
class RoleAssignment:
    user_id: str
    project_id: str
    role_id: str


@dataclass(kw_only=True, eq=False)
class RevokedToken:
    """A revoked token, by its audit id, kept until the token would have expired anyway."""

    audit_id: str
    expires_at: datetime


# Roles created on first start: Keystone's default personas and Octavia's roles.
DEFAULT_ROLES = ("admin", "member", "reader", "load-balancer_observer",
                 "load-balancer_global_observer", "load-balancer_member",
                 "load-balancer_quota_admin", "load-balancer_admin")
