"""What one load balancer can hold on this host: HAProxy's file-descriptor budget.

HAProxy needs a descriptor per listener and per health-checked server before it counts any
connection, and refuses to start or reload beyond its open-files limit (probe F5: a batch
of 240 members was accepted with 202, the reload failed and the pool went to ERROR). So
the API refuses, with a clear 409 and before anything changes, a listener or member that
would leave the LB less than a useful connection budget. Members are counted whether or
not a monitor checks them today: a monitor may be added to their pool later.
"""

from __future__ import annotations

import resource

from sqlalchemy.orm import Session

from nslb.db import tree
from nslb.lbaas.errors import Conflict
from nslb.model.resources import Listener, Member
from nslb.render.limits import MIN_USEFUL_MAXCONN, capacity


def fd_limit() -> int:
    """The open-files limit haproxy inherits from nslb (and may raise itself to)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def ensure_room(session: Session, lb_id: str, members: int = 0, listeners: int = 0,
                limit: int | None = None) -> None:
    """Conflict (409) if adding `members` and `listeners` to the LB would not fit its haproxy."""
    if not members and not listeners:
        return
    room = capacity(fd_limit() if limit is None else limit)
    used = tree.count_in_lb(session, Member, lb_id) + tree.count_in_lb(session, Listener, lb_id)
    if used + members + listeners > room:
        raise Conflict(
            f"Load Balancer {lb_id} cannot hold more than {room} listeners and members on "
            f"this host: HAProxy needs a file descriptor for each and must keep "
            f"{MIN_USEFUL_MAXCONN} connections within its open-files limit of "
            f"{fd_limit() if limit is None else limit}.")
