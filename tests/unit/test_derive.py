"""HAProxy observation -> Octavia operating statuses; a listener or pool the running data
plane does not report must show as an outage, not as ONLINE (probe finding F4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nslb.amphora.base import Observation
from nslb.db.tree import Tree
from nslb.health.derive import derive
from nslb.model.resources import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)


def tree(listener: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
         lb: dict[str, Any] | None = None, hm: bool = True) -> Tree:
    """LB -> listener -> pool with members m0, m1 (+ monitor), all ACTIVE unless told."""
    active = {"provisioning_status": "ACTIVE"}
    lb_obj = LoadBalancer(id="lb", **{**active, **(lb or {})})
    p = Pool(id="pool", loadbalancer_id="lb", **{**active, **(pool or {})})
    li = Listener(id="listener", loadbalancer_id="lb",
                  **{**active, "default_pool_id": "pool", **(listener or {})})
    ms = [Member(id=f"m{i}", pool_id="pool", loadbalancer_id="lb", provisioning_status="ACTIVE")
          for i in range(2)]
    hms = [HealthMonitor(id="hm", pool_id="pool", loadbalancer_id="lb",
                         provisioning_status="ACTIVE")] if hm else []
    return Tree(lb=lb_obj, listeners=[li], pools=[p], members=ms, healthmonitors=hms)


def seen(listener: str | None = "OPEN", pool: str | None = "UP",
         members: tuple[str, str] = ("UP", "UP"), running: bool = True) -> Observation:
    """What haproxy reports; None leaves the object out of `show stat`."""
    if not running:
        return Observation(running=False)
    return Observation(
        running=True,
        listeners={"listener": listener} if listener else {},
        pools={"pool": pool} if pool else {},
        members={f"m{i}": s for i, s in enumerate(members)} if pool else {})


# Trees are built in the test, after the ORM has mapped the classes.
# (name, tree, observation, expected statuses of lb / listener / pool / m0 / m1 / hm)
CASES: list[tuple[str, Callable[[], Tree], Observation, tuple[str, ...]]] = [
    ("all healthy", lambda: tree(), seen(),
     ("ONLINE", "ONLINE", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    ("one member down", lambda: tree(), seen(members=("UP", "DOWN")),
     ("DEGRADED", "ONLINE", "DEGRADED", "ONLINE", "ERROR", "ONLINE")),
    ("all members down", lambda: tree(), seen(pool="DOWN", members=("DOWN", "DOWN")),
     ("ERROR", "ONLINE", "ERROR", "ERROR", "ERROR", "ONLINE")),
    ("listener full", lambda: tree(), seen(listener="FULL"),
     ("DEGRADED", "DEGRADED", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    # the probe: the pool vanished from the config, every request answered 503
    ("pool missing from the data plane", lambda: tree(), seen(pool=None),
     ("ERROR", "ONLINE", "ERROR", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("pool in ERROR provisioning and missing", lambda: tree(pool={"provisioning_status": "ERROR"}),
     seen(pool=None), ("ERROR", "ONLINE", "ERROR", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("listener missing from the data plane", lambda: tree(), seen(listener=None),
     ("ERROR", "ERROR", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    ("haproxy not running", lambda: tree(), seen(running=False),
     ("ERROR", "ERROR", "ERROR", "OFFLINE", "OFFLINE", "OFFLINE")),
    # not an outage: objects not yet rendered, or not meant to serve
    ("pool being created", lambda: tree(pool={"provisioning_status": "PENDING_CREATE"}),
     seen(pool=None), ("ONLINE", "ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("listener being created", lambda: tree(listener={"provisioning_status": "PENDING_CREATE"}),
     seen(listener=None), ("ONLINE", "OFFLINE", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    ("pool used by no listener", lambda: tree(listener={"default_pool_id": None}), seen(pool=None),
     ("ONLINE", "ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("listener disabled", lambda: tree(listener={"admin_state_up": False}),
     seen(listener="STOP", pool=None),
     ("ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("pool disabled", lambda: tree(pool={"admin_state_up": False}), seen(pool=None),
     ("ONLINE", "ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("load balancer disabled", lambda: tree(lb={"admin_state_up": False}),
     seen(listener="STOP", pool=None),
     ("OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
]


@pytest.mark.parametrize(("t", "obs", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_derive(t: Callable[[], Tree], obs: Observation, expected: tuple[str, ...]) -> None:
    out = derive(t(), obs)
    assert tuple(out[k] for k in ("lb", "listener", "pool", "m0", "m1", "hm")) == expected


def test_a_missing_listener_never_reads_online_with_or_without_a_pool() -> None:
    for t in (tree(), tree(listener={"default_pool_id": None})):
        out = derive(t, seen(listener=None))
        assert out["listener"] == "ERROR" and out["lb"] == "ERROR"


def test_no_monitor_members() -> None:
    out = derive(tree(hm=False), seen(members=("no check", "MAINT")))
    assert (out["m0"], out["m1"], out["pool"], out["lb"]) == \
        ("NO_MONITOR", "OFFLINE", "ONLINE", "ONLINE")


# Each member state haproxy reports, on an enabled member and on a disabled one.
# (haproxy's word, member status, the pool's and the LB's status)
MEMBER_STATES = [
    ("UP", "ONLINE", "ONLINE"),
    ("DOWN", "ERROR", "DEGRADED"),
    ("DRAIN", "DRAINING", "ONLINE"),
    ("NOLB", "DRAINING", "ONLINE"),
    ("MAINT", "OFFLINE", "ONLINE"),
    ("no check", "NO_MONITOR", "ONLINE"),
    ("something new", "OFFLINE", "ONLINE"),
]


@pytest.mark.parametrize(("word", "member", "pool"), MEMBER_STATES)
def test_each_member_state(word: str, member: str, pool: str) -> None:
    out = derive(tree(), seen(members=("UP", word)))
    assert (out["m1"], out["pool"], out["lb"]) == (member, pool, pool)


@pytest.mark.parametrize("word", [s[0] for s in MEMBER_STATES])
def test_a_disabled_member_is_offline_whatever_haproxy_says(word: str) -> None:
    t = tree()
    t.members[1].admin_state_up = False
    out = derive(t, seen(members=("UP", word)))
    assert (out["m1"], out["pool"]) == ("OFFLINE", "ONLINE")


def test_a_member_haproxy_does_not_report_is_offline() -> None:
    obs = seen()
    del obs.members["m1"]
    assert derive(tree(), obs)["m1"] == "OFFLINE"


def test_the_worst_status_wins_on_the_load_balancer() -> None:
    """A full listener (DEGRADED) and a pool with every member down (ERROR): ERROR, and a
    degraded pool never lowers an ERROR already found."""
    out = derive(tree(), seen(listener="FULL", pool="DOWN", members=("DOWN", "DOWN")))
    assert (out["listener"], out["pool"], out["lb"]) == ("DEGRADED", "ERROR", "ERROR")
    out = derive(tree(), seen(listener=None, members=("UP", "DOWN")))
    assert (out["listener"], out["pool"], out["lb"]) == ("ERROR", "DEGRADED", "ERROR")


# (name, monitor enabled, pool enabled, pool reported, monitor status)
MONITORS = [
    ("watching", True, True, True, "ONLINE"),
    ("monitor disabled", False, True, True, "OFFLINE"),
    ("pool disabled", True, False, False, "OFFLINE"),
    ("pool not in the data plane", True, True, False, "OFFLINE"),
]


@pytest.mark.parametrize(("hm_up", "pool_up", "reported", "expected"),
                         [m[1:] for m in MONITORS], ids=[m[0] for m in MONITORS])
def test_the_monitor_follows_its_pool(hm_up: bool, pool_up: bool, reported: bool,
                                      expected: str) -> None:
    t = tree(pool={"admin_state_up": pool_up})
    t.healthmonitors[0].admin_state_up = hm_up
    assert derive(t, seen(pool="UP" if reported else None))["hm"] == expected


def l7_tree(lb_up: bool = True, listener_up: bool = True, policy_up: bool = True,
            rule_up: bool = True, orphan: bool = False) -> Tree:
    """tree() plus one L7 policy on the listener (or on a listener not in the tree) with
    one rule."""
    t = tree(listener={"admin_state_up": listener_up}, lb={"admin_state_up": lb_up})
    t.l7policies = [L7Policy(id="policy", listener_id="gone" if orphan else "listener",
                             admin_state_up=policy_up)]
    t.l7rules = [L7Rule(id="rule", l7policy_id="policy", admin_state_up=rule_up)]
    return t


# L7 objects have no health of their own: ONLINE while enabled all the way up, the
# cascade LB -> listener -> policy -> rule. (name, tree, policy status, rule status)
L7_CASES: list[tuple[str, Callable[[], Tree], str, str]] = [
    ("all enabled", lambda: l7_tree(), "ONLINE", "ONLINE"),
    ("rule disabled", lambda: l7_tree(rule_up=False), "ONLINE", "OFFLINE"),
    ("policy disabled", lambda: l7_tree(policy_up=False), "OFFLINE", "OFFLINE"),
    ("listener disabled", lambda: l7_tree(listener_up=False), "OFFLINE", "OFFLINE"),
    ("load balancer disabled", lambda: l7_tree(lb_up=False), "OFFLINE", "OFFLINE"),
    ("policy of a listener not in the tree", lambda: l7_tree(orphan=True), "OFFLINE",
     "OFFLINE"),
]


@pytest.mark.parametrize(("t", "policy", "rule"), [c[1:] for c in L7_CASES],
                         ids=[c[0] for c in L7_CASES])
def test_l7_cascade(t: Callable[[], Tree], policy: str, rule: str) -> None:
    out = derive(t(), seen())
    assert (out["policy"], out["rule"]) == (policy, rule)


def test_l7_objects_never_change_the_load_balancer_status() -> None:
    assert derive(l7_tree(rule_up=False, policy_up=False), seen())["lb"] == "ONLINE"
