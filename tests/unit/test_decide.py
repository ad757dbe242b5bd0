"""The reconciler's pure core: what to do with an LB, when to retry and when to give up,
walked with an injected clock."""

from __future__ import annotations

import pytest

from nslb.worker.decide import (
    RESYNC_CPU_SHARE,
    Action,
    Attempts,
    LbState,
    RetryPolicy,
    Verdict,
    after_failure,
    decide,
    orphans,
    resync_pace,
)

RESYNC = 10.0
POLICY = RetryPolicy(first_delay=1.0, factor=2.0, max_delay=60.0, max_attempts=6)


def lb(status: str = "ACTIVE", generation: int = 3, applied: int = 3,
       child_pending: bool = False) -> LbState:
    return LbState("lb", status, generation, applied, child_pending)


def failed(generation: int = 3, failures: int = 1, retry_at: float = 101.0) -> Attempts:
    return Attempts(generation, failures, retry_at, "boom")


# (state, last_sync, now, attempts, expected)
DECISIONS: list[tuple[str, LbState, float | None, float, Attempts | None, Action]] = [
    ("delete requested", lb("PENDING_DELETE", 4), 95.0, 100.0, None, Action.DELETE),
    ("create pending", lb("PENDING_CREATE", 1, 0), None, 100.0, None, Action.APPLY),
    ("update pending", lb("PENDING_UPDATE", 4), 99.0, 100.0, None, Action.APPLY),
    ("a child pending", lb(child_pending=True), 99.0, 100.0, None, Action.APPLY),
    ("generation ahead", lb(generation=4), 99.0, 100.0, None, Action.APPLY),
    ("never synced", lb(), None, 100.0, None, Action.RESYNC),
    ("resync due", lb(), 90.0, 100.0, None, Action.RESYNC),
    ("resync not due", lb(), 95.0, 100.0, None, Action.NOTHING),
    ("error lb converged", lb("ERROR"), None, 100.0, None, Action.NOTHING),
    ("error lb with new generation", lb("ERROR", 4), None, 100.0, None, Action.APPLY),
    # backoff after a failed attempt
    ("pending, backoff running", lb("PENDING_UPDATE", 4), None, 100.0,
     failed(4, retry_at=101.0), Action.NOTHING),
    ("pending, backoff over", lb("PENDING_UPDATE", 4), None, 101.0,
     failed(4, retry_at=101.0), Action.APPLY),
    ("delete, backoff running", lb("PENDING_DELETE", 4), None, 100.5,
     failed(4, retry_at=101.0), Action.NOTHING),
    ("delete, backoff over", lb("PENDING_DELETE", 4), None, 102.0,
     failed(4, retry_at=101.0), Action.DELETE),
    ("record of an older generation is ignored", lb("PENDING_DELETE", 5), None, 100.0,
     failed(4, retry_at=160.0), Action.DELETE),
    ("failing resync retried at its backoff, not the interval", lb(), 99.0, 101.0,
     failed(3, retry_at=101.0), Action.APPLY),
    ("failing resync waits for its backoff", lb(), 50.0, 100.0,
     failed(3, retry_at=101.0), Action.NOTHING),
    # exact boundaries
    ("resync a hair before the interval", lb(), 90.0, 99.999, None, Action.NOTHING),
    ("delete at the very moment the backoff ends", lb("PENDING_DELETE", 4), None, 101.0,
     failed(4, retry_at=101.0), Action.DELETE),
    ("delete a hair before the backoff ends", lb("PENDING_DELETE", 4), None, 100.999,
     failed(4, retry_at=101.0), Action.NOTHING),
    ("an ERROR LB is not retried by a stale record", lb("ERROR"), None, 200.0,
     failed(3, retry_at=101.0), Action.NOTHING),
    ("a settled failure of an older generation does not hold a new change",
     lb("PENDING_UPDATE", 5, 4), None, 100.0, failed(4, retry_at=500.0), Action.APPLY),
]


@pytest.mark.parametrize(("state", "last_sync", "now", "attempts", "expected"),
                         [case[1:] for case in DECISIONS], ids=[case[0] for case in DECISIONS])
def test_decide(state: LbState, last_sync: float | None, now: float,
                attempts: Attempts | None, expected: Action) -> None:
    assert decide(state, last_sync, now, RESYNC, attempts) is expected


@pytest.mark.parametrize(("failures", "delay"),
                         [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 32.0),
                          (7, 60.0), (20, 60.0)])
def test_backoff_doubles_up_to_the_cap(failures: int, delay: float) -> None:
    assert POLICY.delay(failures) == delay


def run_until_settled(state: LbState, start: float) -> list[tuple[float, Verdict]]:
    """Drive decide/after_failure with a fake clock against a driver that always fails:
    the times of the attempts and what each led to."""
    now, attempts, log = start, None, []
    for _ in range(1000):
        if decide(state, None, now, RESYNC, attempts) is Action.NOTHING:
            now += 0.25  # the planner ticks; nothing may run before the backoff is over
            continue
        verdict, attempts = after_failure(state, attempts, "OSError: gone", now, POLICY,
                                          RESYNC)
        log.append((now, verdict))
        if verdict is Verdict.GIVE_UP:
            break
    return log


def test_a_failing_change_is_tried_six_times_with_growing_gaps_then_given_up() -> None:
    log = run_until_settled(lb("PENDING_DELETE", 4), start=1000.0)
    assert [t - 1000.0 for t, _ in log] == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0]
    assert [v for _, v in log] == [Verdict.RETRY] * 5 + [Verdict.GIVE_UP]


def test_a_failing_resync_is_never_given_up_and_waits_at_most_the_resync_interval() -> None:
    state, now, attempts = lb(), 0.0, None
    gaps = []
    for _ in range(10):
        verdict, record = after_failure(state, attempts, "haproxy gone", now, POLICY, RESYNC)
        assert verdict is Verdict.RETRY
        gaps.append(record.retry_at - now)
        now, attempts = record.retry_at, record
    assert gaps == [1.0, 2.0, 4.0, 8.0] + [RESYNC] * 6


def test_a_new_generation_starts_counting_afresh() -> None:
    old = Attempts(generation=4, failures=5, retry_at=200.0, reason="boom")
    verdict, record = after_failure(lb("PENDING_DELETE", 5), old, "again", 100.0, POLICY,
                                    RESYNC)
    assert (verdict, record) == (Verdict.RETRY, Attempts(5, 1, 101.0, "again"))


def test_a_config_the_data_plane_refuses_is_given_up_at_once() -> None:
    verdict, record = after_failure(lb("PENDING_UPDATE", 4), None, "haproxy rejected", 10.0,
                                    POLICY, RESYNC, permanent=True)
    assert verdict is Verdict.GIVE_UP and record.failures == 1


def test_a_refused_config_on_resync_is_still_retried() -> None:
    verdict, _ = after_failure(lb(), None, "haproxy rejected", 10.0, POLICY, RESYNC,
                               permanent=True)
    assert verdict is Verdict.RETRY


def test_give_up_keeps_a_backoff_in_case_settling_fails_too() -> None:
    previous = Attempts(generation=4, failures=5, retry_at=100.0, reason="boom")
    verdict, record = after_failure(lb("PENDING_UPDATE", 4), previous, "boom", 100.0, POLICY,
                                    RESYNC)
    assert verdict is Verdict.GIVE_UP
    assert record.failures == 6 and record.retry_at == 132.0
    assert decide(lb("PENDING_UPDATE", 4), None, 110.0, RESYNC, record) is Action.NOTHING


def test_orphans_are_data_plane_without_a_row() -> None:
    assert orphans({"a", "b", "c"}, {"b", "d"}) == {"a", "c"}


def test_resync_pace_spreads_a_small_host_over_the_interval() -> None:
    assert resync_pace(0, RESYNC) == 0.0
    assert resync_pace(100, RESYNC) == pytest.approx(0.08)  # 100 LBs in 8 of the 10 s


def test_resync_pace_caps_the_checks_per_second_on_a_big_host() -> None:
    # 1,000 LBs would be 125 checks a second; at most 40, so each LB every 25 s
    assert resync_pace(1000, RESYNC) == pytest.approx(1 / 40)
    assert 1000 * resync_pace(1000, RESYNC) == pytest.approx(25.0)


def test_resync_pace_keeps_the_lane_within_its_share_of_a_core() -> None:
    # checks of 1.5 ms of CPU at 1 % of a core: one every 150 ms, whatever the count says
    assert pytest.approx(0.01) == RESYNC_CPU_SHARE
    assert resync_pace(1000, RESYNC, cost=0.0015) == pytest.approx(0.15)
    assert resync_pace(1000, RESYNC, cost=0.0015) * 1000 == pytest.approx(150.0)
    # a small host still spreads its LBs over the interval: cheap checks change nothing
    assert resync_pace(10, RESYNC, cost=0.0015) == pytest.approx(0.8)
    # the share is what the lane costs: CPU per check over the time per check
    pace = resync_pace(1000, RESYNC, cost=0.004)
    assert 0.004 / pace == pytest.approx(RESYNC_CPU_SHARE)


def test_the_backoff_cap_holds_while_attempts_remain() -> None:
    """With a 5 s cap the gaps grow 1, 2, 4, then stay at 5 until the sixth attempt."""
    policy = RetryPolicy(first_delay=1.0, factor=2.0, max_delay=5.0, max_attempts=6)
    state, now, attempts, times = lb("PENDING_UPDATE", 4), 0.0, None, []
    while True:
        verdict, attempts = after_failure(state, attempts, "boom", now, policy, RESYNC)
        times.append(now)
        if verdict is Verdict.GIVE_UP:
            break
        assert decide(state, None, attempts.retry_at - 0.001, RESYNC, attempts) is Action.NOTHING
        assert decide(state, None, attempts.retry_at, RESYNC, attempts) is Action.APPLY
        now = attempts.retry_at
    assert times == [0.0, 1.0, 3.0, 7.0, 12.0, 17.0]


@pytest.mark.parametrize(("max_attempts", "verdicts"), [
    (1, [Verdict.GIVE_UP]),
    (2, [Verdict.RETRY, Verdict.GIVE_UP]),
    (3, [Verdict.RETRY, Verdict.RETRY, Verdict.GIVE_UP]),
])
def test_give_up_exactly_at_max_attempts(max_attempts: int, verdicts: list[Verdict]) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    attempts, seen = None, []
    for now in range(max_attempts):
        verdict, attempts = after_failure(lb("PENDING_CREATE", 1, 0), attempts, "boom",
                                          float(now * 100), policy, RESYNC)
        seen.append(verdict)
    assert seen == verdicts


def test_resync_pace_at_the_cap_boundary() -> None:
    # 10 s * 0.8 / 320 LBs is exactly 1/40 s: the spread and the cap meet there
    assert resync_pace(319, RESYNC) > 1 / 40
    assert resync_pace(320, RESYNC) == pytest.approx(1 / 40)
    assert resync_pace(321, RESYNC) == pytest.approx(1 / 40)
