"""Queries behind the flavor API: what uses a profile or a flavor.

The rows are read under a row lock (PostgreSQL; SQLite's writer lock serialises anyway) by
both sides of each race: a flavor create and a profile delete, a load balancer create and
a flavor delete. Whichever locks first wins; the other sees its outcome, so no flavor
names a deleted profile and no load balancer a deleted flavor.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nslb.db.tables import flavor, load_balancer
from nslb.model.resources import Flavor, FlavorProfile


def canonical(ident: str) -> str:
    """An id as rows store it (lower case, with dashes); a non-UUID stays as given and
    simply matches nothing."""
    try:
        return str(uuid.UUID(ident))
    except ValueError:
        return ident


def profile(session: Session, ident: str, *, lock: bool = False,
            shared: bool = False) -> FlavorProfile | None:
    found: FlavorProfile | None = session.get(FlavorProfile, canonical(ident),
                                              with_for_update=_lock(lock, shared))
    return found


def get(session: Session, ident: str, *, lock: bool = False,
        shared: bool = False) -> Flavor | None:
    found: Flavor | None = session.get(Flavor, canonical(ident),
                                       with_for_update=_lock(lock, shared))
    return found


def profile_in_use(session: Session, profile_id: str) -> bool:
    """Octavia's test: any flavor made from the profile."""
    stmt = select(func.count()).select_from(flavor).where(
        flavor.c.flavor_profile_id == profile_id)
    return bool(session.scalar(stmt))


def flavor_in_use(session: Session, flavor_id: str) -> bool:
    """Any load balancer not yet deleted that was built with the flavor (nslb removes the
    row of a deleted load balancer, so every row counts)."""
    stmt = select(func.count()).select_from(load_balancer).where(
        load_balancer.c.flavor_id == flavor_id)
    return bool(session.scalar(stmt))


def name_taken(session: Session, name: str, but: str | None = None) -> bool:
    stmt = select(func.count()).select_from(flavor).where(flavor.c.name == name)
    if but is not None:
        stmt = stmt.where(flavor.c.id != but)
    return bool(session.scalar(stmt))


def _lock(lock: bool, shared: bool) -> bool | dict[str, bool]:
    if shared:
        return {"read": True}
    return lock
