"""The routers the database asks for: every router serving at least one floating IP, read
in one transaction and turned into specs."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from nslb.db import floating as repo
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


def _rows(session: Session, router: FloatingRouter, fips: list[FloatingIP]) -> RouterRows:
    return RouterRows(
        router=router,
        port=session.get(Port, router.port_id),
        subnet=session.get(Subnet, router.subnet_id),
        network=session.get(Network, router.network_id),
        external=session.get(Network, router.external_network_id),
        floating=[(f, session.get(Subnet, f.floating_subnet_id)) for f in fips],
    )


def wanted_routers(session: Session) -> list[Wanted]:
    """What every router with a floating IP should be. Floating IPs whose external network
    is not their router's (which the API never writes) are left out of the rules."""
    by_router: dict[str, list[FloatingIP]] = defaultdict(list)
    for fip in repo.associated(session):
        by_router[fip.router_id or ""].append(fip)
    out = []
    for router_id, fips in sorted(by_router.items()):
        router = session.get(FloatingRouter, router_id)
        if router is None:
            continue  # disassociate_orphans() runs first and clears these
        serving = [f for f in fips if f.floating_network_id == router.external_network_id]
        for fip in serving:
            session.expunge(fip)
        try:
            spec = router_spec(_rows(session, router, serving))
        except Unbuildable as exc:
            out.append(Wanted(router_id, None, tuple(serving), str(exc)))
            continue
        out.append(Wanted(router_id, spec, tuple(serving)))
    return out
