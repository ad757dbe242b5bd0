"""What a login names: a user, and the project to scope to, as checked values.

The HTTP layer validates the request body (types, lengths) and hands these over, so the
identity service never sees a list where it expects a name (probe F11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nslb.model.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME


@dataclass(frozen=True)
class DomainRef:
    id: str | None = None
    name: str | None = None

    def is_default(self) -> bool:
        """Only the Default domain exists; it may be named by id or by name."""
        return self.id in (None, DEFAULT_DOMAIN_ID) and self.name in (None,
                                                                      DEFAULT_DOMAIN_NAME)


@dataclass(frozen=True)
class UserRef:
    """By id, or by name within a domain (id wins when both are given, as in Keystone)."""

    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None

    @property
    def throttle_key(self) -> str:
        """Who the attempt is for, as the throttle counts it (it stores only a digest)."""
        return f"id:{self.id}" if self.id else f"name:{self.name or ''}"


@dataclass(frozen=True)
class ProjectRef:
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


# None: the user's default project (if any); "unscoped": explicitly no project.
Scope = ProjectRef | Literal["unscoped"] | None
