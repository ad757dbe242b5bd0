"""Pure decisions of amphora failover: in which order old amphorae go (which unhealthy
amphorae the health loop fails over on its own is nslb.health.autofailover). No I/O.

How a replacement runs (nslb.worker.loop): the API or the health loop marks the old
amphorae PENDING_DELETE and writes their replacements (db.amphorae.request_failover). A
STANDALONE amphora plugs the LB's own VIP port, so it must go before its replacement can
be built: a SINGLE LB is rebuilt in place. An ACTIVE_STANDBY pair's replacements have
their own VRRP ports, so they are built first and join the VRRP group as standbys; then
the old amphorae are removed, the standby first (as Octavia does), so the VIP moves once,
straight to a new amphora, when the old holder withdraws.
"""

from __future__ import annotations

from dataclasses import dataclass

from nslb.model.enums import AmphoraRole


@dataclass(frozen=True)
class Old:
    """An amphora on its way out, as the worker sees it before removing it."""

    id: str
    role: str | None
    holds_vip: bool


def removal_order(olds: list[Old]) -> list[str]:
    """Standbys first, the VIP holder last; among equals the BACKUP role before MASTER."""
    return [o.id for o in sorted(olds, key=lambda o: (o.holds_vip,
                                                       o.role == AmphoraRole.MASTER, o.id))]


def removed_before_build(role: str | None) -> bool:
    """A STANDALONE amphora holds the LB's VIP port: it goes before its replacement."""
    return role not in (AmphoraRole.MASTER, AmphoraRole.BACKUP)
