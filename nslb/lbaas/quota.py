"""Quota checks: how many objects of each kind a project may have.

-1 means unlimited; a project without its own row uses the defaults (all -1, as Octavia's
configuration defaults). A create that would pass a limit is refused with Octavia's
"Quota has been met" (QuotaExceeded: 403 in every API).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from nslb.db import tree
from nslb.lbaas.errors import QuotaExceeded
from nslb.lbaas.locks import display
from nslb.model.resources import (
    QUOTA_RESOURCES,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Quota,
)

DEFAULTS: dict[str, int] = {name: -1 for name in QUOTA_RESOURCES}
COUNTED: dict[type, str] = {LoadBalancer: "loadbalancer", Listener: "listener", Pool: "pool",
                            Member: "member", HealthMonitor: "healthmonitor",
                            L7Policy: "l7policy", L7Rule: "l7rule"}


def effective(row: Quota | None) -> dict[str, int]:
    """The limits that apply: the project's own where it set one, else the default."""
    values = dict(DEFAULTS)
    if row is not None:
        for name in QUOTA_RESOURCES:
            value = getattr(row, name)
            if value is not None:
                values[name] = value
    return values


def enforce(session: Session, project_id: str, adding: dict[type, int]) -> None:
    """QuotaExceeded if creating `adding` objects would pass the project's quota."""
    limits = effective(session.get(Quota, project_id))
    for cls, count in adding.items():
        limit = limits[COUNTED[cls]]
        if count and limit >= 0 and tree.count_by_project(session, cls, project_id) + count > limit:
            raise QuotaExceeded(display(cls))
