"""Which amphorae the health loop replaces on its own (pure, with a made-up clock)."""

from __future__ import annotations

import pytest

from nslb.health.autofailover import AutoFailover, plan
from nslb.worker.failover import Old, removal_order, removed_before_build

POLICY = AutoFailover(timeout=10.0, threshold=3, max_concurrent=2)


def test_only_amphorae_unhealthy_for_the_timeout_are_replaced() -> None:
    since = {"a": 0.0, "b": 5.0}
    statuses = {"a": "ALLOCATED", "b": "ALLOCATED"}
    assert plan(since, statuses, 0, 9.9, POLICY) == ([], [])
    assert plan(since, statuses, 0, 10.0, POLICY) == (["a"], [])
    assert plan(since, statuses, 0, 15.0, POLICY) == (["a", "b"], [])


def test_error_and_busy_amphorae_are_never_replaced_automatically() -> None:
    since = {s: 0.0 for s in ("ERROR", "FAILOVER_STOPPED", "PENDING_DELETE", "PENDING_CREATE")}
    statuses = {s: s for s in since}
    assert plan(since, statuses, 0, 100.0, POLICY) == ([], [])


def test_a_cap_on_concurrent_failovers() -> None:
    since = {"a": 0.0, "b": 1.0, "c": 2.0}
    statuses = dict.fromkeys(since, "ALLOCATED")
    assert plan(since, statuses, 0, 50.0, POLICY) == (["a", "b"], [])  # oldest first
    assert plan(since, statuses, 1, 50.0, POLICY) == (["a"], [])
    assert plan(since, statuses, 2, 50.0, POLICY) == ([], [])


def test_beyond_the_threshold_everything_stale_is_stopped() -> None:
    since = {x: 0.0 for x in "abcd"}
    statuses = dict.fromkeys(since, "ALLOCATED")
    assert plan(since, statuses, 0, 50.0, POLICY) == ([], ["a", "b", "c", "d"])
    assert plan(since, statuses, 0, 50.0, AutoFailover(threshold=None, max_concurrent=9)) == \
        (["a", "b", "c", "d"], [])


# (name, unhealthy since, statuses (an amphora left out has no known status: eligible),
#  failovers in progress, now, policy, (failed over, stopped))
PLANS: list[tuple[str, dict[str, float], dict[str, str], int, float, AutoFailover,
                  tuple[list[str], list[str]]]] = [
    ("a hair before the timeout", {"a": 0.0}, {"a": "ALLOCATED"}, 0, 9.999, POLICY, ([], [])),
    ("exactly at the timeout", {"a": 0.0}, {"a": "ALLOCATED"}, 0, 10.0, POLICY, (["a"], [])),
    ("an amphora without a known status is eligible", {"a": 0.0}, {}, 0, 10.0, POLICY,
     (["a"], [])),
    ("booting and deleted amphorae are left alone", {"a": 0.0, "b": 0.0},
     {"a": "BOOTING", "b": "DELETED"}, 0, 50.0, POLICY, ([], [])),
    ("same age: by id", {"b": 0.0, "a": 0.0, "c": 0.0}, {}, 0, 50.0,
     AutoFailover(max_concurrent=3), (["a", "b", "c"], [])),
    ("exactly the threshold still fails over (capped)", {x: 0.0 for x in "abc"}, {}, 0, 50.0,
     POLICY, (["a", "b"], [])),
    ("one over the threshold stops them all", {x: 0.0 for x in "abcd"}, {}, 0, 50.0, POLICY,
     ([], ["a", "b", "c", "d"])),
    ("only stale amphorae count towards the threshold", {"a": 0.0, "b": 0.0, "c": 0.0,
                                                         "d": 45.0}, {}, 0, 50.0, POLICY,
     (["a", "b"], [])),
    ("left-alone amphorae do not count either", {x: 0.0 for x in "abcd"}, {"d": "ERROR"}, 0,
     50.0, POLICY, (["a", "b"], [])),
    ("threshold 0: any stale amphora is stopped", {"a": 0.0}, {}, 0, 50.0,
     AutoFailover(threshold=0), ([], ["a"])),
    ("more in progress than allowed: none", {"a": 0.0}, {}, 5, 50.0, POLICY, ([], [])),
    ("nothing unhealthy", {}, {}, 0, 50.0, POLICY, ([], [])),
]


@pytest.mark.parametrize(("since", "statuses", "in_progress", "now", "policy", "expected"),
                         [c[1:] for c in PLANS], ids=[c[0] for c in PLANS])
def test_plan(since: dict[str, float], statuses: dict[str, str], in_progress: int, now: float,
              policy: AutoFailover, expected: tuple[list[str], list[str]]) -> None:
    assert plan(since, statuses, in_progress, now, policy) == expected


def walk(since: dict[str, float], start: float, end: float,
         policy: AutoFailover) -> dict[str, float]:
    """The health loop's view with a made-up clock ticking 0.25 s: when each amphora was
    first planned for failover (a failover takes the rest of the walk)."""
    planned: dict[str, float] = {}
    now = start
    while now <= end:
        waiting = {a: s for a, s in since.items() if a not in planned}
        chosen, _ = plan(waiting, {}, len(planned), now, policy)
        planned.update(dict.fromkeys(chosen, now))
        now += 0.25
    return planned


def test_failovers_start_at_the_timeout_and_never_exceed_the_cap() -> None:
    planned = walk({"a": 1.0, "b": 2.0, "c": 3.0}, 0.0, 30.0, POLICY)
    assert planned == {"a": 11.0, "b": 12.0}  # c waits: two are in progress until the end


def test_removal_order_standby_first_vip_holder_last() -> None:
    olds = [Old("m", "MASTER", True), Old("b", "BACKUP", False)]
    assert removal_order(olds) == ["b", "m"]
    # after a takeover the BACKUP may hold the VIP: it still goes last
    assert removal_order([Old("m", "MASTER", False), Old("b", "BACKUP", True)]) == ["m", "b"]
    assert removed_before_build("STANDALONE") and not removed_before_build("MASTER")
