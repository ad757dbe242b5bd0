"""Queries behind the availability zone API: what uses a profile or a zone.

Locks as in nslb/db/flavors.py: a zone create holds its profile shared, a profile delete
exclusive; an LB create holds its zone shared, a zone delete exclusive.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nslb.db.flavors import canonical
from nslb.db.tables import availability_zone, compute_aggregate, load_balancer
from nslb.model.placement import AvailabilityZone, AvailabilityZoneProfile


def _lock(lock: bool, shared: bool) -> bool | dict[str, bool]:
    return {"read": True} if shared else lock


def profile(session: Session, ident: str, *, lock: bool = False,
            shared: bool = False) -> AvailabilityZoneProfile | None:
    found: AvailabilityZoneProfile | None = session.get(
        AvailabilityZoneProfile, canonical(ident), with_for_update=_lock(lock, shared))
    return found


def get(session: Session, name: str, *, lock: bool = False,
        shared: bool = False) -> AvailabilityZone | None:
    found: AvailabilityZone | None = session.get(AvailabilityZone, name,
                                                 with_for_update=_lock(lock, shared))
    return found


def profile_in_use(session: Session, profile_id: str) -> bool:
    stmt = select(func.count()).select_from(availability_zone).where(
        availability_zone.c.availability_zone_profile_id == profile_id)
    return bool(session.scalar(stmt))


def zone_in_use(session: Session, name: str) -> bool:
    stmt = select(func.count()).select_from(load_balancer).where(
        load_balancer.c.availability_zone == name)
    return bool(session.scalar(stmt))


def compute_zones(session: Session) -> set[str]:
    """The compute availability zones the aggregates define."""
    stmt = select(compute_aggregate.c.availability_zone).where(
        compute_aggregate.c.availability_zone.is_not(None)).distinct()
    return {str(z) for z in session.scalars(stmt)}
