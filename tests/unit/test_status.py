"""The provisioning-status state machine: every allowed move, and the refused ones."""

from __future__ import annotations

import itertools

import pytest

from nslb.model.enums import ProvisioningStatus as P
from nslb.model.status import (
    DELETABLE,
    MUTABLE,
    PENDING,
    TRANSITIONS,
    Event,
    IllegalTransition,
    can,
    is_pending,
    transition,
)

# The full table, written out independently of the module under test.
ALLOWED: dict[tuple[P | None, Event], P] = {
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
    (P.ACTIVE, Event.SUCCEED): P.ACTIVE,
    (P.ERROR, Event.FAIL): P.ERROR,
    (P.ERROR, Event.SUCCEED): P.ACTIVE,
}

ALL_STATES: list[P | None] = [None, *P]


def test_table_is_exactly_the_expected_one() -> None:
    assert TRANSITIONS == ALLOWED


@pytest.mark.parametrize(("current", "event"), list(ALLOWED))
def test_allowed_transitions(current: P | None, event: Event) -> None:
    raw = current.value if current is not None else None
    assert can(raw, event)
    assert transition(raw, event) is ALLOWED[(current, event)]


REFUSED = [(s, e) for s, e in itertools.product(ALL_STATES, Event) if (s, e) not in ALLOWED]


@pytest.mark.parametrize(("current", "event"), REFUSED)
def test_refused_transitions(current: P | None, event: Event) -> None:
    raw = current.value if current is not None else None
    assert not can(raw, event)
    with pytest.raises(IllegalTransition) as info:
        transition(raw, event)
    assert info.value.current == current
    assert info.value.event is event


@pytest.mark.parametrize(("current", "event"), [
    (P.PENDING_UPDATE, Event.UPDATE),   # the PENDING_* lock
    (P.PENDING_CREATE, Event.DELETE),
    (P.PENDING_DELETE, Event.UPDATE),
    (P.DELETED, Event.UPDATE),
    (P.DELETED, Event.SUCCEED),
    (P.ACTIVE, Event.CREATE),           # an existing object cannot be created again
    (None, Event.UPDATE),
    (None, Event.SUCCEED),
    (P.ACTIVE, Event.FAIL),
])
def test_representative_refusals(current: P | None, event: Event) -> None:
    assert not can(current, event)
    with pytest.raises(IllegalTransition, match=f"cannot {event.value}"):
        transition(current, event)


def test_unknown_status_string_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        transition("BOGUS", Event.UPDATE)
    with pytest.raises(ValueError):
        can("BOGUS", Event.UPDATE)


def test_status_sets_match_octavia() -> None:
    assert {P.PENDING_CREATE, P.PENDING_UPDATE, P.PENDING_DELETE} == PENDING
    assert {P.ACTIVE} == MUTABLE
    assert {P.ACTIVE, P.ERROR} == DELETABLE
    for status in P:
        assert is_pending(status.value) == status.value.startswith("PENDING_")


def test_a_full_lifecycle() -> None:
    state = transition(None, Event.CREATE)
    state = transition(state, Event.FAIL)
    assert state is P.ERROR
    state = transition(state, Event.UPDATE)
    state = transition(state, Event.SUCCEED)
    assert state is P.ACTIVE
    state = transition(state, Event.DELETE)
    assert transition(state, Event.SUCCEED) is P.DELETED
