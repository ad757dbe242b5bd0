"""Objects of the embedded key manager (a Barbican v1 subset): secrets, their encrypted
payloads, containers of secret references, per-entity read ACLs and secret consumers.

A payload lives in its own row so that listing and showing metadata never load
ciphertext, and so that a key rotation walks one small table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Barbican's secret types (barbican.plugin.interface.secret_store.SecretType).
SECRET_TYPES = ("symmetric", "passphrase", "private", "public", "certificate", "opaque")
CONTAINER_TYPES = ("generic", "rsa", "certificate")
ACTIVE = "ACTIVE"


def now() -> datetime:
    """Naive UTC with microseconds, as Barbican prints its timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_uuid() -> str:
    """Barbican's ids are canonical UUID strings (clients parse them with uuid.UUID)."""
    return str(uuid.uuid4())


@dataclass(kw_only=True, eq=False)
class Secret:
    """A secret's metadata. `content_type` is the stored (normalised) media type, set
    when a payload is stored; a secret created without one can be given one later."""

    id: str = field(default_factory=new_uuid)
    project_id: str
    creator_id: str | None = None
    name: str | None = None
    secret_type: str = "opaque"
    algorithm: str | None = None
    bit_length: int | None = None
    mode: str | None = None
    expiration: datetime | None = None
    content_type: str | None = None
    status: str = ACTIVE
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass(kw_only=True, eq=False)
class SecretPayload:
    """The payload of one secret, sealed with key `key_id` of the payload key ring
    (nslb/secrets/crypto.py); the ciphertext is bound to the secret's id and project."""

    secret_id: str
    key_id: int
    ciphertext: bytes


@dataclass(kw_only=True, eq=False)
class SecretContainer:
    id: str = field(default_factory=new_uuid)
    project_id: str
    creator_id: str | None = None
    name: str | None = None
    type: str = "generic"
    status: str = ACTIVE
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass(kw_only=True, eq=False)
class ContainerSecret:
    """One named reference of a container to a secret of the same project."""

    container_id: str
    secret_id: str
    name: str | None = None
    position: int = 0


@dataclass(kw_only=True, eq=False)
class KeyManagerAcl:
    """The `read` ACL of a secret or a container (`entity_type` says which). Without a
    row the entity has Barbican's implicit ACL: project access, no users."""

    entity_id: str
    entity_type: str
    operation: str = "read"
    project_access: bool = True
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)


@dataclass(kw_only=True, eq=False)
class KeyManagerAclUser:
    entity_id: str
    operation: str
    user_id: str


@dataclass(kw_only=True, eq=False)
class SecretConsumer:
    """A service resource that says it uses a secret (Barbican microversion 1.1)."""

    id: str = field(default_factory=new_uuid)
    secret_id: str
    project_id: str
    service: str
    resource_type: str
    resource_id: str
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
