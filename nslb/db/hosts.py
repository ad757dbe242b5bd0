"""Hosts, join tokens and revoked certificate serials (tables host, join_token,
revoked_cert): what the controller knows about the agents that joined it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from nslb.db.tables import amphora, amphora_health, host, host_cleanup, join_token, revoked_cert
from nslb.model.enums import AmphoraStatus
from nslb.model.resources import utcnow
from nslb.pki import tokens

UP, DOWN = "UP", "DOWN"
# admin_state: only an ACTIVE host gets new amphorae; a DRAINING one has its amphorae
# failed over elsewhere (nslb/health/drain.py) and is DRAINED once it carries none.
ACTIVE, DRAINING, DRAINED = "ACTIVE", "DRAINING", "DRAINED"


@dataclass(frozen=True)
class Host:
    id: str
    name: str
    address: str
    port: int
    state: str
    cert_serial: str | None
    cert_expiry: datetime | None
    max_amphorae: int
    cpu_count: int
    memory_mb: int
    created_at: datetime
    updated_at: datetime | None
    underlay_address: str | None = None
    admin_state: str = ACTIVE
    amphorae: int = 0

    @property
    def placeable(self) -> bool:
        """New amphorae may go here: UP and not being drained."""
        return self.state == UP and self.admin_state == ACTIVE


@dataclass(frozen=True)
class Joining:
    """What a joining agent says about itself."""

    name: str
    address: str
    port: int
    max_amphorae: int = 0
    cpu_count: int = 0
    memory_mb: int = 0


def add_token(session: Session, token: tokens.JoinToken, lifetime: timedelta) -> datetime:
    """Keep the token's hash; its expiry (naive UTC)."""
    now = utcnow()
    expires = now + lifetime
    session.execute(insert(join_token).values(id=token.token_id, secret_hash=token.secret_hash,
                                              created_at=now, expires_at=expires))
    return expires


def consume_token(session: Session, token: tokens.JoinToken, host_id: str,
                  now: datetime | None = None) -> str | None:
    """Use the token once for `host_id`: None when it worked, else why not. The update is a
    compare-and-set on `used_at IS NULL`, so two joins racing on one token cannot both
    win, on any database."""
    now = now or utcnow()
    row = session.execute(select(join_token).where(join_token.c.id == token.token_id)).first()
    if row is None or not tokens.matches(token.secret, row.secret_hash):
        return "unknown join token"
    if row.used_at is not None:
        return "join token already used"
    if row.expires_at <= now:
        return "join token expired"
    done = session.execute(update(join_token).where(
        join_token.c.id == token.token_id, join_token.c.used_at.is_(None)).values(
            used_at=now, host_id=host_id))
    return None if done.rowcount == 1 else "join token already used"  # type: ignore[attr-defined]


def add_host(session: Session, joining: Joining, serial: str, expiry: datetime,
             host_id: str | None = None) -> str:
    host_id = host_id or str(uuid.uuid4())
    now = utcnow()
    session.execute(insert(host).values(
        id=host_id, name=joining.name, address=joining.address, port=joining.port,
        state=UP, cert_serial=serial, cert_expiry=expiry, max_amphorae=joining.max_amphorae,
        cpu_count=joining.cpu_count, memory_mb=joining.memory_mb, created_at=now,
        updated_at=now))
    return host_id


def renewed(session: Session, host_id: str, serial: str, expiry: datetime) -> None:
    """A host's new certificate; its amphorae show the new expiry as Octavia's
    `cert_expiration` (the certificate that guards them is their host's)."""
    session.execute(update(host).where(host.c.id == host_id).values(
        cert_serial=serial, cert_expiry=expiry, updated_at=utcnow()))
    session.execute(update(amphora).where(amphora.c.compute_id == host_id).values(
        cert_expiration=expiry))


def set_state(session: Session, host_id: str, state: str) -> bool:
    """Record UP or DOWN; True when it changed."""
    done = session.execute(update(host).where(host.c.id == host_id, host.c.state != state)
                           .values(state=state, updated_at=utcnow()))
    return done.rowcount == 1  # type: ignore[attr-defined]


def set_underlay(session: Session, host_id: str, address: str | None) -> bool:
    """Record the host's underlay address (from its facts); True when it changed."""
    done = session.execute(update(host).where(
        host.c.id == host_id, host.c.underlay_address.is_distinct_from(address))
        .values(underlay_address=address, updated_at=utcnow()))
    return done.rowcount == 1  # type: ignore[attr-defined]


def amphora_counts(session: Session) -> dict[str, int]:
    """host id -> live amphorae placed on it."""
    rows = session.execute(
        select(amphora.c.compute_id, func.count()).where(
            amphora.c.status != AmphoraStatus.DELETED, amphora.c.compute_id.is_not(None))
        .group_by(amphora.c.compute_id)).all()
    return {r[0]: int(r[1]) for r in rows}


def all_hosts(session: Session, count: bool = True) -> list[Host]:
    """Every host, with its amphora count unless `count` is off (a scan)."""
    counts = amphora_counts(session) if count else {}
    rows = session.execute(select(host).order_by(host.c.created_at, host.c.id)).all()
    return [Host(**r._asdict(), amphorae=counts.get(r.id, 0)) for r in rows]


def get(session: Session, host_id: str, count: bool = False) -> Host | None:
    """One host; its amphora count only when asked (`count`), which costs a scan."""
    row = session.execute(select(host).where(host.c.id == host_id)).first()
    if row is None:
        return None
    amphorae = 0
    if count:
        amphorae = int(session.scalar(select(func.count()).select_from(amphora).where(
            amphora.c.compute_id == host_id, amphora.c.status != AmphoraStatus.DELETED))
            or 0)
    return Host(**row._asdict(), amphorae=amphorae)


def revoke(session: Session, serial: str, host_id: str | None = None) -> None:
    exists = session.execute(select(revoked_cert.c.serial).where(
        revoked_cert.c.serial == serial)).first()
    if exists is None:
        session.execute(insert(revoked_cert).values(serial=serial, host_id=host_id,
                                                    revoked_at=utcnow()))


def revoked(session: Session) -> set[str]:
    return set(session.scalars(select(revoked_cert.c.serial)).all())


def remove(session: Session, host_id: str) -> None:
    """Forget a host and revoke its certificate (the caller checked it carries nothing)."""
    row = get(session, host_id)
    if row is None:
        return
    if row.cert_serial:
        revoke(session, row.cert_serial, host_id)
    session.execute(delete(host).where(host.c.id == host_id))
    session.execute(delete(amphora_health).where(amphora_health.c.amphora_id == host_id))
    session.execute(delete(host_cleanup).where(host_cleanup.c.host_id == host_id))


def set_admin_state(session: Session, host_id: str, state: str) -> bool:
    """ACTIVE, DRAINING or DRAINED; True when it changed."""
    done = session.execute(update(host).where(host.c.id == host_id,
                                              host.c.admin_state != state)
                           .values(admin_state=state, updated_at=utcnow()))
    return done.rowcount == 1  # type: ignore[attr-defined]


# --- deletes deferred to a host's return ---------------------------------------------------


def defer_delete(session: Session, host_id: str, amphora_id: str) -> None:
    """Record that `amphora_id` must be removed from `host_id` once it answers again."""
    exists = session.execute(select(host_cleanup.c.amphora_id).where(
        host_cleanup.c.amphora_id == amphora_id)).first()
    if exists is None:
        session.execute(insert(host_cleanup).values(amphora_id=amphora_id, host_id=host_id,
                                                    created_at=utcnow()))


def deferred(session: Session, host_id: str | None = None) -> dict[str, list[str]]:
    """host id -> amphorae whose delete waits for that host (one host's, or all)."""
    query = select(host_cleanup.c.host_id, host_cleanup.c.amphora_id)
    if host_id is not None:
        query = query.where(host_cleanup.c.host_id == host_id)
    out: dict[str, list[str]] = {}
    for r in session.execute(query.order_by(host_cleanup.c.created_at)).all():
        out.setdefault(r.host_id, []).append(r.amphora_id)
    return out


def deferred_done(session: Session, amphora_ids: list[str]) -> None:
    if amphora_ids:
        session.execute(delete(host_cleanup).where(
            host_cleanup.c.amphora_id.in_(amphora_ids)))


def assigned(session: Session, host_id: str) -> set[str]:
    """Amphorae the database places on `host_id` (any status but DELETED)."""
    return set(session.scalars(select(amphora.c.id).where(
        amphora.c.compute_id == host_id, amphora.c.status != AmphoraStatus.DELETED)).all())
