"""Pure decisions of amphora failover: in which order old amphorae go, and which unhealthy
amphorae the health loop fails over on its own. No I/O; the clock is passed in.

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

from nslb.model.enums import AmphoraRole, AmphoraStatus


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


@dataclass(frozen=True)
class AutoFailover:
    """When the health loop replaces an amphora on its own.

    `timeout`: seconds an amphora must have been unhealthy. `threshold`: Octavia's
    failover_threshold: when more amphorae than this are stale at once the cause is
    probably not theirs (a host or network failure), so they are marked FAILOVER_STOPPED
    and left alone (None: no threshold). `max_concurrent`: at most this many failovers run
    at a time, so a storm cannot replace everything at once.
    """

    timeout: float = 10.0
    threshold: int | None = None
    max_concurrent: int = 2


# An amphora in one of these is never failed over automatically (ERROR, as in Octavia;
# the others are already being replaced, or were stopped by the threshold).
LEFT_ALONE = frozenset({AmphoraStatus.ERROR, AmphoraStatus.FAILOVER_STOPPED,
                        AmphoraStatus.PENDING_DELETE, AmphoraStatus.PENDING_CREATE,
                        AmphoraStatus.BOOTING, AmphoraStatus.DELETED})


def plan(unhealthy_since: dict[str, float], statuses: dict[str, str], in_progress: int,
         now: float, policy: AutoFailover) -> tuple[list[str], list[str]]:
    """(amphorae to fail over now, amphorae to mark FAILOVER_STOPPED)."""
    stale = sorted((a for a, since in unhealthy_since.items()
                    if now - since >= policy.timeout and statuses.get(a) not in LEFT_ALONE),
                   key=lambda a: (unhealthy_since[a], a))
    if policy.threshold is not None and len(stale) > policy.threshold:
        return [], stale
    room = max(0, policy.max_concurrent - in_progress)
    return stale[:room], []
