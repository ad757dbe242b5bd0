"""The routers the database asks for: every router serving at least one floating IP, read
in one transaction and turned into specs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db import floating as repo
from nslb.db.tables import table_of
from nslb.floating.spec import RouterRows, Unbuildable, router_spec
from nslb.model.resources import FloatingIP, FloatingRouter, Network, Port, Subnet
from nslb.model.router import RouterSpec


@dataclass(frozen=True)
class Wanted:
    """One router to serve: its spec (None when it cannot be built: `problem` says why)
    and the floating IPs, as read, whose status follows the outcome."""

    router_id: str
    spec: RouterSpec | None
    floating_ips: tuple[FloatingIP, ...]
    problem: str = ""


def _by_id(session: Session, cls: type, ids: set[str]) -> dict[str, Any]:
    """Rows of `cls` by id, in one query."""
    if not ids:
        return {}
    rows: list[Any] = list(session.scalars(select(cls).where(table_of(cls).c.id.in_(ids))))
    return {row.id: row for row in rows}


def wanted_routers(session: Session) -> list[Wanted]:
    """What every router with a floating IP should be, from a handful of queries whatever
    the number of routers. Floating IPs whose external network is not their router's
    (which the API never writes) are left out of the rules."""
    by_router: dict[str, list[FloatingIP]] = defaultdict(list)
    for fip in repo.associated(session):
        session.expunge(fip)  # handed to the caller with the state it was read in
        by_router[fip.router_id or ""].append(fip)
    routers = _by_id(session, FloatingRouter, set(by_router))
    ports = _by_id(session, Port, {r.port_id for r in routers.values()})
    networks = _by_id(session, Network, {n for r in routers.values()
                                         for n in (r.network_id, r.external_network_id)})
    fips = [f for group in by_router.values() for f in group]
    subnets = _by_id(session, Subnet, {r.subnet_id for r in routers.values()}
                     | {f.floating_subnet_id for f in fips})
    out = []
    for router_id, group in sorted(by_router.items()):
        router = routers.get(router_id)
        if router is None:
            continue  # disassociate_orphans() runs first and clears these
        serving = [f for f in group if f.floating_network_id == router.external_network_id]
        rows = RouterRows(router=router, port=ports.get(router.port_id),
                          subnet=subnets.get(router.subnet_id),
                          network=networks.get(router.network_id),
                          external=networks.get(router.external_network_id),
                          floating=[(f, subnets.get(f.floating_subnet_id)) for f in serving])
        try:
            out.append(Wanted(router_id, router_spec(rows), tuple(serving)))
        except Unbuildable as exc:
            out.append(Wanted(router_id, None, tuple(serving), str(exc)))
    return out
