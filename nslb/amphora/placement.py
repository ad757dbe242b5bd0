"""Where a new amphora goes: one small pure function with the state passed in (the
scheduler issue replaces it). Among the hosts that are up and below their capacity, the
one with the fewest amphorae; a host that already carries an amphora of the same load
balancer only when no other host can take it, so the two amphorae of an ACTIVE_STANDBY
pair sit on two hosts whenever two exist."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    host_id: str
    up: bool
    amphorae: int
    max_amphorae: int = 0  # 0: no limit


def choose_host(hosts: Sequence[Candidate], siblings: Collection[str]) -> str | None:
    """The host for a new amphora; `siblings` are the hosts of the LB's other amphorae.
    None when no host can take it."""
    usable = [h for h in hosts
              if h.up and (h.max_amphorae <= 0 or h.amphorae < h.max_amphorae)]
    if not usable:
        return None
    best = min(usable, key=lambda h: (h.host_id in siblings, h.amphorae, h.host_id))
    return best.host_id
