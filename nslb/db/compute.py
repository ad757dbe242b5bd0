"""Compute flavors and host aggregates (tables compute_flavor, compute_aggregate,
compute_aggregate_host): what the Nova-compatible subset (nslb/api/compute) writes and
the scheduler's wiring (nslb/amphora/placement.py) reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db.tables import (
    compute_aggregate,
    compute_aggregate_host,
    compute_flavor,
    flavor_profile,
)
from nslb.model.placement import COMPUTE_FLAVOR

# The extra spec that says how many connections one amphora of the flavor takes (the
# `nslb:` scope is not an aggregate requirement: nslb/placement/extra_specs.py).
CONNECTIONS_SPEC = "nslb:max_connections"


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    ram: int
    vcpus: int
    disk: int
    is_public: bool
    description: str | None
    extra_specs: dict[str, str]
    created_at: datetime


@dataclass(frozen=True)
class Aggregate:
    id: int
    uuid: str
    name: str
    availability_zone: str | None
    meta: dict[str, str]
    created_at: datetime
    updated_at: datetime | None
    hosts: tuple[str, ...] = ()


def flavor(session: Session, ident: str, *, lock: bool = False,
           shared: bool = False) -> Flavor | None:
    """A flavor by id (Nova's CLI resolves names through the list; the Octavia flavor
    profile's `compute_flavor` holds an id). `lock` takes the row for a delete, `shared`
    for a flavor profile that is about to name it: on PostgreSQL the two serialise, so no
    profile names a deleted flavor (SQLite's writer lock serialises anyway)."""
    stmt = select(compute_flavor).where(compute_flavor.c.id == ident)
    if lock or shared:
        stmt = stmt.with_for_update(read=shared)
    row = session.execute(stmt).first()
    return Flavor(**row._asdict()) if row is not None else None


def profiles_naming(session: Session, flavor_id: str) -> list[tuple[str, str]]:
    """(id, name) of the Octavia flavor profiles whose flavor_data names the compute
    flavor as `compute_flavor` (the data was checked as JSON when it was stored)."""
    rows = session.execute(
        select(flavor_profile.c.id, flavor_profile.c.name, flavor_profile.c.flavor_data)
        .where(flavor_profile.c.flavor_data.contains(COMPUTE_FLAVOR))
        .order_by(flavor_profile.c.name)).all()
    return [(r.id, r.name) for r in rows if _names(r.flavor_data, flavor_id)]


def _names(flavor_data: str, flavor_id: str) -> bool:
    try:
        data = json.loads(flavor_data)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get(COMPUTE_FLAVOR) == flavor_id


def flavors(session: Session) -> list[Flavor]:
    rows = session.execute(select(compute_flavor).order_by(compute_flavor.c.id)).all()
    return [Flavor(**r._asdict()) for r in rows]


def _hosts_of(session: Session, ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    rows = session.execute(select(compute_aggregate_host).where(
        compute_aggregate_host.c.aggregate_id.in_(ids)).order_by(
            compute_aggregate_host.c.host)).all()
    for r in rows:
        out.setdefault(r.aggregate_id, []).append(r.host)
    return out


def aggregates(session: Session, where: Any = None) -> list[Aggregate]:
    stmt = select(compute_aggregate).order_by(compute_aggregate.c.id)
    if where is not None:
        stmt = stmt.where(where)
    rows = session.execute(stmt).all()
    hosts = _hosts_of(session, [r.id for r in rows])
    return [Aggregate(**r._asdict(), hosts=tuple(hosts.get(r.id, []))) for r in rows]


def aggregate(session: Session, ident: int) -> Aggregate | None:
    found = aggregates(session, compute_aggregate.c.id == ident)
    return found[0] if found else None


def host_placement(session: Session) -> dict[str, tuple[str | None, dict[str, frozenset[str]]]]:
    """host name -> (its availability zone, its aggregates' metadata merged key -> values),
    as Nova's aggregate_metadata_get_by_host and its AZ lookup read them."""
    out: dict[str, tuple[str | None, dict[str, set[str]]]] = {}
    for agg in aggregates(session):
        for name in agg.hosts:
            zone, merged = out.setdefault(name, (None, {}))
            if agg.availability_zone:
                zone = agg.availability_zone
            for key, value in agg.meta.items():
                merged.setdefault(key, set()).add(str(value))
            out[name] = (zone, merged)
    return {name: (zone, {k: frozenset(v) for k, v in merged.items()})
            for name, (zone, merged) in out.items()}
