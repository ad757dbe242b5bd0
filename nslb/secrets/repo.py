"""Queries of the key manager's tables. Callers pass the session; nothing here decides
who may see what (policy.py does), except that expired secrets are never found, as in
Barbican."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from nslb.db.tables import (
    km_acl,
    km_acl_user,
    km_container,
    km_container_secret,
    km_secret,
    km_secret_consumer,
    km_secret_payload,
)
from nslb.model.secrets import (
    ContainerSecret,
    KeyManagerAcl,
    KeyManagerAclUser,
    Secret,
    SecretConsumer,
    SecretContainer,
    SecretPayload,
    now,
)
from nslb.secrets.policy import Target

READ = "read"
DateFilter = tuple[str, datetime]  # (eq|gt|gte|lt|lte, naive UTC)
SECRET_SORT_COLUMNS = {"algorithm": "algorithm", "bit_length": "bit_length",
                       "created": "created_at", "expiration": "expiration", "mode": "mode",
                       "name": "name", "secret_type": "secret_type", "status": "status",
                       "updated": "updated_at"}


@dataclass(frozen=True)
class SecretFilters:
    """Barbican's list filters (name, alg and mode are SQL LIKE patterns, as there)."""

    name: str | None = None
    alg: str | None = None
    mode: str | None = None
    bits: int = 0
    secret_type: str | None = None
    created: Sequence[DateFilter] = ()
    updated: Sequence[DateFilter] = ()
    expiration: Sequence[DateFilter] = ()
    sort: Sequence[tuple[str, str]] = field(default_factory=tuple)


def _live(when: datetime) -> ColumnElement[bool]:
    return or_(km_secret.c.expiration.is_(None), km_secret.c.expiration > when)


# --- secrets --------------------------------------------------------------------------------

def get_secret(session: Session, secret_id: str) -> Secret | None:
    stmt = select(Secret).where(km_secret.c.id == secret_id, _live(now()))
    return session.scalars(stmt).first()


def payload_of(session: Session, secret_id: str) -> SecretPayload | None:
    return session.get(SecretPayload, secret_id)


def _dated(column: Any, filters: Sequence[DateFilter]) -> list[ColumnElement[bool]]:
    ops = {"eq": column.__eq__, "gt": column.__gt__, "gte": column.__ge__,
           "lt": column.__lt__, "lte": column.__le__}
    return [ops[op](when) for op, when in filters]


def list_secrets(session: Session, project_id: str | None, f: SecretFilters, offset: int,
                 limit: int, acl_user: str | None = None) -> tuple[list[Secret], int]:
    """One page of the project's secrets (or, with `acl_user`, of the secrets whose read
    ACL names that user) and the total that match."""
    conds: list[ColumnElement[bool]] = [_live(now())]
    if f.name:
        conds.append(km_secret.c.name.like(f.name))
    if f.alg:
        conds.append(km_secret.c.algorithm.like(f.alg))
    if f.mode:
        conds.append(km_secret.c.mode.like(f.mode))
    if f.bits > 0:
        conds.append(km_secret.c.bit_length == f.bits)
    if f.secret_type:
        conds.append(km_secret.c.secret_type == f.secret_type)
    conds += _dated(km_secret.c.created_at, f.created)
    conds += _dated(km_secret.c.updated_at, f.updated)
    conds += _dated(km_secret.c.expiration, f.expiration)
    if acl_user is not None:
        users = select(km_acl_user.c.entity_id).where(km_acl_user.c.user_id == acl_user,
                                                      km_acl_user.c.operation == READ)
        conds.append(km_secret.c.id.in_(users))
    else:
        conds.append(km_secret.c.project_id == project_id)
    where = and_(*conds)
    total = session.scalar(select(func.count()).select_from(km_secret).where(where)) or 0
    order = [getattr(km_secret.c[SECRET_SORT_COLUMNS[key]], direction)()
             for key, direction in f.sort]
    stmt = (select(Secret).where(where)
            .order_by(*order, km_secret.c.created_at, km_secret.c.id)
            .offset(offset).limit(limit))
    return list(session.scalars(stmt)), total


def add_secret(session: Session, secret: Secret, payload: SecretPayload | None) -> None:
    session.add(secret)
    if payload is not None:
        session.flush()
        session.add(payload)


def delete_secret(session: Session, secret_id: str) -> None:
    session.execute(delete(km_secret_payload).where(km_secret_payload.c.secret_id == secret_id))
    session.execute(delete(km_secret_consumer)
                    .where(km_secret_consumer.c.secret_id == secret_id))
    delete_acl(session, secret_id)
    session.execute(delete(km_secret).where(km_secret.c.id == secret_id))


# --- containers -----------------------------------------------------------------------------

def get_container(session: Session, container_id: str) -> SecretContainer | None:
    return session.get(SecretContainer, container_id)


def members_of(session: Session, container_ids: Sequence[str]) -> dict[str, list[ContainerSecret]]:
    """The secret references of each container, in the order they were given."""
    out: dict[str, list[ContainerSecret]] = {cid: [] for cid in container_ids}
    if container_ids:
        stmt = (select(ContainerSecret)
                .where(km_container_secret.c.container_id.in_(list(container_ids)))
                .order_by(km_container_secret.c.position))
        for member in session.scalars(stmt):
            out[member.container_id].append(member)
    return out


def list_containers(session: Session, project_id: str, name: str | None, kind: str | None,
                    offset: int, limit: int) -> tuple[list[SecretContainer], int]:
    conds: list[ColumnElement[bool]] = [km_container.c.project_id == project_id]
    if name:
        conds.append(km_container.c.name.like(name))
    if kind:
        conds.append(km_container.c.type == kind)
    where = and_(*conds)
    total = session.scalar(select(func.count()).select_from(km_container).where(where)) or 0
    stmt = (select(SecretContainer).where(where)
            .order_by(km_container.c.created_at, km_container.c.id).offset(offset).limit(limit))
    return list(session.scalars(stmt)), total


def add_container(session: Session, container: SecretContainer,
                  members: Sequence[tuple[str | None, str]]) -> None:
    session.add(container)
    session.flush()
    for position, (name, secret_id) in enumerate(members):
        session.add(ContainerSecret(container_id=container.id, secret_id=secret_id,
                                    name=name, position=position))


def add_member(session: Session, container: SecretContainer, name: str | None,
               secret_id: str) -> None:
    last = session.scalar(select(func.max(km_container_secret.c.position))
                          .where(km_container_secret.c.container_id == container.id))
    session.add(ContainerSecret(container_id=container.id, secret_id=secret_id, name=name,
                                position=(last if last is not None else -1) + 1))
    container.updated_at = now()


def remove_member(session: Session, container: SecretContainer, member: ContainerSecret) -> None:
    session.delete(member)
    container.updated_at = now()


def delete_container(session: Session, container_id: str) -> None:
    session.execute(delete(km_container_secret)
                    .where(km_container_secret.c.container_id == container_id))
    delete_acl(session, container_id)
    session.execute(delete(km_container).where(km_container.c.id == container_id))


# --- ACLs -----------------------------------------------------------------------------------

def acl_of(session: Session, entity_id: str) -> tuple[KeyManagerAcl | None, list[str]]:
    acl = session.get(KeyManagerAcl, (entity_id, READ))
    if acl is None:
        return None, []
    users = session.scalars(select(km_acl_user.c.user_id)
                            .where(km_acl_user.c.entity_id == entity_id,
                                   km_acl_user.c.operation == READ)
                            .order_by(km_acl_user.c.user_id))
    return acl, list(users)


def target(session: Session, entity_id: str, project_id: str, creator_id: str | None,
           user_id: str | None) -> Target:
    """The policy target of an entity for a caller with `user_id`."""
    acl, users = acl_of(session, entity_id)
    return Target(project_id=project_id, creator_id=creator_id,
                  project_access=acl.project_access if acl is not None else True,
                  acl_read=user_id is not None and user_id in users)


def set_acl(session: Session, entity_id: str, entity_type: str, project_access: bool | None,
            users: Sequence[str] | None) -> None:
    """Create or update the read ACL: `project_access` None keeps the stored flag (True
    for a new ACL), `users` None keeps the stored users, a list replaces them."""
    stamp = now()
    acl = session.get(KeyManagerAcl, (entity_id, READ))
    if acl is None:
        acl = KeyManagerAcl(entity_id=entity_id, entity_type=entity_type,
                            project_access=True if project_access is None else project_access,
                            created_at=stamp, updated_at=stamp)
        session.add(acl)
    else:
        if project_access is not None:
            acl.project_access = project_access
        acl.updated_at = stamp
    if users is not None:
        session.execute(delete(km_acl_user).where(km_acl_user.c.entity_id == entity_id,
                                                  km_acl_user.c.operation == READ))
        session.flush()
        for user_id in dict.fromkeys(users):
            session.add(KeyManagerAclUser(entity_id=entity_id, operation=READ,
                                          user_id=user_id))


def delete_acl(session: Session, entity_id: str) -> None:
    session.execute(delete(km_acl_user).where(km_acl_user.c.entity_id == entity_id))
    session.execute(delete(km_acl).where(km_acl.c.entity_id == entity_id))


# --- consumers ------------------------------------------------------------------------------

def consumers_of(session: Session, secret_ids: Sequence[str]) -> dict[str, list[SecretConsumer]]:
    out: dict[str, list[SecretConsumer]] = {sid: [] for sid in secret_ids}
    if secret_ids:
        stmt = (select(SecretConsumer)
                .where(km_secret_consumer.c.secret_id.in_(list(secret_ids)))
                .order_by(km_secret_consumer.c.created_at, km_secret_consumer.c.id))
        for consumer in session.scalars(stmt):
            out[consumer.secret_id].append(consumer)
    return out


def find_consumer(session: Session, secret_id: str, service: str, resource_type: str,
                  resource_id: str) -> SecretConsumer | None:
    stmt = select(SecretConsumer).where(
        km_secret_consumer.c.secret_id == secret_id, km_secret_consumer.c.service == service,
        km_secret_consumer.c.resource_type == resource_type,
        km_secret_consumer.c.resource_id == resource_id)
    return session.scalars(stmt).first()


def count_consumers(session: Session, secret_id: str) -> int:
    return session.scalar(select(func.count()).select_from(km_secret_consumer)
                          .where(km_secret_consumer.c.secret_id == secret_id)) or 0


def page_consumers(session: Session, secret_id: str, offset: int,
                   limit: int) -> list[SecretConsumer]:
    stmt = (select(SecretConsumer).where(km_secret_consumer.c.secret_id == secret_id)
            .order_by(km_secret_consumer.c.created_at, km_secret_consumer.c.id)
            .offset(offset).limit(limit))
    return list(session.scalars(stmt))


# --- payloads for a key rotation ------------------------------------------------------------

def sealed_by_other_keys(session: Session, key_id: int, batch: int) -> list[tuple[Any, ...]]:
    """(secret id, project id, key id, ciphertext) of payloads not sealed by `key_id`."""
    stmt = (select(km_secret_payload.c.secret_id, km_secret.c.project_id,
                   km_secret_payload.c.key_id, km_secret_payload.c.ciphertext)
            .join(km_secret, km_secret.c.id == km_secret_payload.c.secret_id)
            .where(km_secret_payload.c.key_id != key_id)
            .order_by(km_secret_payload.c.secret_id).limit(batch))
    return [tuple(row) for row in session.execute(stmt)]


def keys_in_use(session: Session) -> set[int]:
    return set(session.scalars(select(km_secret_payload.c.key_id).distinct()))
