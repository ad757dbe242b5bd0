"""Pure decision logic of the reconciler: what to do with one LB, given what the database
says and when it was last synchronised. No I/O, the clock is passed in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    APPLY = "apply"
    DELETE = "delete"
    NOTHING = "nothing"


@dataclass(frozen=True)
class LbState:
    id: str
    provisioning_status: str
    generation: int
    applied_generation: int
    child_pending: bool


def decide(lb: LbState, last_sync: float | None, now: float, resync_interval: float) -> Action:
    """Level-triggered: pending work is applied; converged LBs are re-applied now and then,
    which is how a vanished namespace or a crashed haproxy gets rebuilt."""
    if lb.provisioning_status == "PENDING_DELETE":
        return Action.DELETE
    if lb.provisioning_status in ("PENDING_CREATE", "PENDING_UPDATE") or lb.child_pending \
            or lb.generation != lb.applied_generation:
        return Action.APPLY
    if lb.provisioning_status == "ACTIVE" and (last_sync is None
                                               or now - last_sync >= resync_interval):
        return Action.APPLY
    return Action.NOTHING


def orphans(on_host: set[str], in_db: set[str]) -> set[str]:
    """Data plane that no LB in the database owns (left by a crash mid-delete)."""
    return on_host - in_db
