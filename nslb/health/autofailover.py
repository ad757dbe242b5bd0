"""Which unhealthy amphorae the health loop fails over on its own. Pure; the clock is
passed in.

The worker already repairs an amphora in place when its haproxy or keepalived dies (the
health loop asks it to re-apply). Failover is for what repair cannot fix: an amphora still
unhealthy after `timeout` seconds is replaced, like Octavia's health manager replaces an
amphora whose heartbeats stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from nslb.model.enums import AmphoraStatus


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
