"""Settling statuses after an apply: only the object whose change failed goes to ERROR, and
parents locked for a child's change return to ACTIVE (probe finding F4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from nslb.db.tree import Tree
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool
from nslb.worker.outcome import monitor_status, set_status, settle, the_change

A, U, C, D, E = "ACTIVE", "PENDING_UPDATE", "PENDING_CREATE", "PENDING_DELETE", "ERROR"


def tree(lb: str = A, listener: str = A, pool: str = A, members: tuple[str, ...] = (A, A),
         hm: str | None = A, attached: bool = True) -> Tree:
    """LB -> listener -> pool (members, health monitor) with the given statuses."""
    lb_obj = LoadBalancer(id="lb", provisioning_status=lb)
    p = Pool(id="pool", loadbalancer_id="lb", provisioning_status=pool)
    li = Listener(id="listener", loadbalancer_id="lb", provisioning_status=listener,
                  default_pool_id=p.id if attached else None)
    ms = [Member(id=f"m{i}", pool_id=p.id, loadbalancer_id="lb", provisioning_status=s)
          for i, s in enumerate(members)]
    hms = [HealthMonitor(id="hm", pool_id=p.id, loadbalancer_id="lb",
                         provisioning_status=hm)] if hm else []
    return Tree(lb=lb_obj, listeners=[li], pools=[p], members=ms, healthmonitors=hms)


def after(t: Tree, failed: bool) -> dict[str, str]:
    """Every object's status once the plan is applied (DELETED rows included as such)."""
    plan = settle(t, failed)
    return {o.id: str(plan.get(o.id, o.provisioning_status)) for o in t.everything()}


# Trees are built in the test, after the ORM has mapped the classes.
# (name, tree as the API left it, failed?, expected statuses)
CASES: list[tuple[str, Callable[[], Tree], bool, dict[str, str]]] = [
    ("the probe: health monitor update fails",
     lambda: tree(U, U, U, hm=U), True,
     {"lb": A, "listener": A, "pool": A, "m0": A, "m1": A, "hm": E}),
    ("health monitor update succeeds",
     lambda: tree(U, U, U, hm=U), False,
     {"lb": A, "listener": A, "pool": A, "m0": A, "m1": A, "hm": A}),
    ("member create fails",
     lambda: tree(U, U, U, members=(A, C)), True,
     {"lb": A, "listener": A, "pool": A, "m0": A, "m1": E, "hm": A}),
    ("member delete fails",
     lambda: tree(U, U, U, members=(A, D)), True,
     {"lb": A, "listener": A, "pool": A, "m0": A, "m1": E, "hm": A}),
    ("member delete succeeds",
     lambda: tree(U, U, U, members=(A, D)), False,
     {"lb": A, "listener": A, "pool": A, "m0": A, "m1": "DELETED", "hm": A}),
    ("member batch fails: every changed member, not the pool",
     lambda: tree(U, U, U, members=(U, C, D)), True,
     {"lb": A, "listener": A, "pool": A, "m0": E, "m1": E, "m2": E, "hm": A}),
    ("pool update fails",
     lambda: tree(U, U, U), True,
     {"lb": A, "listener": A, "pool": E, "m0": A, "m1": A, "hm": A}),
    ("pool create fails",
     lambda: tree(U, U, C, members=(), hm=None), True,
     {"lb": A, "listener": A, "pool": E}),
    ("pool delete fails: the listener it was detached from is only locked",
     lambda: tree(U, U, D, members=(D, D), hm=D, attached=False), True,
     {"lb": A, "listener": A, "pool": E, "m0": E, "m1": E, "hm": E}),
    ("pool delete succeeds",
     lambda: tree(U, U, D, members=(D,), hm=D, attached=False), False,
     {"lb": A, "listener": A, "pool": "DELETED", "m0": "DELETED", "hm": "DELETED"}),
    ("listener update fails",
     lambda: tree(U, U), True,
     {"lb": A, "listener": E, "pool": A, "m0": A, "m1": A, "hm": A}),
    ("load balancer update fails: the LB itself",
     lambda: tree(U), True,
     {"lb": E, "listener": A, "pool": A, "m0": A, "m1": A, "hm": A}),
    ("load balancer create fails: everything created with it",
     lambda: tree(C, C, C, members=(C,), hm=C), True,
     {"lb": E, "listener": E, "pool": E, "m0": E, "hm": E}),
    ("untouched ERROR objects stay as they are",
     lambda: tree(U, U, U, members=(E, C), hm=E), False,
     {"lb": A, "listener": A, "pool": A, "m0": E, "m1": A, "hm": E}),
]


@pytest.mark.parametrize(("t", "failed", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_settle(t: Callable[[], Tree], failed: bool, expected: dict[str, str]) -> None:
    assert after(t(), failed) == expected


def test_settle_decides_from_the_statuses_before_any_change() -> None:
    """Deciding modifies nothing, so the order objects are visited in cannot matter (the
    old code moved the monitor to ERROR first and then no longer saw the pool as locked)."""
    t = tree(U, U, U, members=(A, C), hm=U)
    before = {o.id: o.provisioning_status for o in t.everything()}
    plan = settle(t, failed=True)
    assert {o.id: o.provisioning_status for o in t.everything()} == before
    for objs in (t.listeners, t.pools, t.members, t.healthmonitors):
        objs.reverse()
    assert settle(t, failed=True) == plan


def test_nothing_pending_changes_nothing() -> None:
    assert settle(tree(), failed=True) == {}
    assert settle(tree(E, E, E, members=(E,), hm=E), failed=False) == {}


def test_a_load_balancer_delete_settles_the_lb_itself() -> None:
    t = tree(D, members=(), hm=None)
    assert settle(t, failed=False) == {"lb": "DELETED"}
    assert settle(t, failed=True) == {"lb": E}


# the_change: what a settled plan was about (the notifications' objects), read before the
# plan is applied. (name, tree, failed?, [(id, before, after)] in order)
CHANGES: list[tuple[str, Callable[[], Tree], bool, list[tuple[str, str, str]]]] = [
    ("a member create: the member, not its locked parents",
     lambda: tree(U, U, U, members=(A, C)), False, [("m1", C, A)]),
    ("a failed health monitor update", lambda: tree(U, U, U, hm=U), True, [("hm", U, E)]),
    ("a member batch: every changed member",
     lambda: tree(U, U, U, members=(U, C, D)), False,
     [("m0", U, A), ("m1", C, A), ("m2", D, "DELETED")]),
    ("the LB's own update comes alone", lambda: tree(U), False, [("lb", U, A)]),
    ("an LB create: the LB first, then everything made with it",
     lambda: tree(C, C, C, members=(C,), hm=C), True,
     [("lb", C, E), ("listener", C, E), ("pool", C, E), ("m0", C, E), ("hm", C, E)]),
    ("nothing pending, nothing changed", lambda: tree(), False, []),
]


@pytest.mark.parametrize(("t", "failed", "expected"), [c[1:] for c in CHANGES],
                         ids=[c[0] for c in CHANGES])
def test_the_change(t: Callable[[], Tree], failed: bool,
                    expected: list[tuple[str, str, str]]) -> None:
    built = t()
    changed = the_change(built, settle(built, failed))
    assert [(s.obj.id, str(s.before), str(s.after)) for s in changed] == expected


T0 = datetime(2026, 12, 3, 12, 0, 0)
T1 = T0 + timedelta(seconds=1)


def test_a_status_change_is_stamped_with_the_clock_given() -> None:
    member = Member(id="m", pool_id="p", provisioning_status=C, updated_at=T0)
    set_status(member, P.ACTIVE, T1)
    assert (member.provisioning_status, member.updated_at) == (A, T1)


def test_a_converged_resync_stamps_nothing() -> None:
    member = Member(id="m", pool_id="p", provisioning_status=A, updated_at=T0)
    set_status(member, P.ACTIVE, T1)
    assert (member.provisioning_status, member.updated_at) == (A, T0)


# (name, monitor enabled?, pool enabled?, the monitor's pool in the tree?, status)
MONITORS = [
    ("watching", True, True, True, "ONLINE"),
    ("monitor disabled", False, True, True, "OFFLINE"),
    ("pool disabled", True, False, True, "OFFLINE"),
    ("both disabled", False, False, True, "OFFLINE"),
    ("its pool not in the tree", True, True, False, "OFFLINE"),
]


@pytest.mark.parametrize(("hm_up", "pool_up", "present", "expected"),
                         [m[1:] for m in MONITORS], ids=[m[0] for m in MONITORS])
def test_a_monitor_that_went_active(hm_up: bool, pool_up: bool, present: bool,
                                    expected: str) -> None:
    t = tree()
    t.pools[0].admin_state_up = pool_up
    t.healthmonitors[0].admin_state_up = hm_up
    if not present:
        t.healthmonitors[0].pool_id = "another"
    assert monitor_status(t.healthmonitors[0], t) == expected
