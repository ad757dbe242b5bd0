"""Which amphorae the health loop replaces on its own (pure, with a made-up clock)."""

from __future__ import annotations

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


def test_removal_order_standby_first_vip_holder_last() -> None:
    olds = [Old("m", "MASTER", True), Old("b", "BACKUP", False)]
    assert removal_order(olds) == ["b", "m"]
    # after a takeover the BACKUP may hold the VIP: it still goes last
    assert removal_order([Old("m", "MASTER", False), Old("b", "BACKUP", True)]) == ["m", "b"]
    assert removed_before_build("STANDALONE") and not removed_before_build("MASTER")
