"""The provisioning-status state machine, as one table.

Octavia treats PENDING_* as a lock: an object in a pending state is immutable until the
worker finishes. Every status change in nslb goes through `transition`, so an illegal
move (say, updating something that is PENDING_DELETE) is refused in one place.
"""

from enum import StrEnum

from nslb.model.enums import ProvisioningStatus

P = ProvisioningStatus


class Event(StrEnum):
    """What happens to an object: an API call (create/update/delete) or a worker outcome."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    SUCCEED = "succeed"
    FAIL = "fail"


TRANSITIONS: dict[tuple[P | None, Event], P] = {
    (None, Event.CREATE): P.PENDING_CREATE,
    (P.ACTIVE, Event.UPDATE): P.PENDING_UPDATE,
    (P.ACTIVE, Event.DELETE): P.PENDING_DELETE,
    (P.ERROR, Event.UPDATE): P.PENDING_UPDATE,
    (P.ERROR, Event.DELETE): P.PENDING_DELETE,
    (P.PENDING_CREATE, Event.SUCCEED): P.ACTIVE,
    (P.PENDING_CREATE, Event.FAIL): P.ERROR,
    (P.PENDING_UPDATE, Event.SUCCEED): P.ACTIVE,
    (P.PENDING_UPDATE, Event.FAIL): P.ERROR,
    (P.PENDING_DELETE, Event.SUCCEED): P.DELETED,
    (P.PENDING_DELETE, Event.FAIL): P.ERROR,
    # Worker outcomes are idempotent: re-running a converged object changes nothing.
    (P.ACTIVE, Event.SUCCEED): P.ACTIVE,
    (P.ERROR, Event.FAIL): P.ERROR,
    (P.ERROR, Event.SUCCEED): P.ACTIVE,
}

PENDING = frozenset({P.PENDING_CREATE, P.PENDING_UPDATE, P.PENDING_DELETE})
# Octavia's MUTABLE_STATUSES and DELETABLE_STATUSES.
MUTABLE = frozenset({P.ACTIVE})
DELETABLE = frozenset({P.ACTIVE, P.ERROR})
# Octavia's LB failover accepts an ACTIVE or an ERROR load balancer.
FAILOVER_FROM = frozenset({P.ACTIVE, P.ERROR})


class IllegalTransition(ValueError):
    """Raised when an event is not allowed in the object's current state."""

    def __init__(self, current: P | None, event: Event) -> None:
        super().__init__(f"cannot {event.value} an object in state {current}")
        self.current = current
        self.event = event


def transition(current: str | None, event: Event) -> P:
    """Return the next provisioning status, or raise IllegalTransition."""
    state = P(current) if current is not None else None
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


def can(current: str | None, event: Event) -> bool:
    """True when `event` is allowed from `current`."""
    return (P(current) if current is not None else None, event) in TRANSITIONS


def is_pending(status: str) -> bool:
    return status in PENDING
