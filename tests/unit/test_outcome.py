"""Settling statuses after an apply: only the object whose change failed goes to ERROR, and
parents locked for a child's change return to ACTIVE (probe finding F4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nslb.db.tree import Tree
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool
from nslb.worker.outcome import settle

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
