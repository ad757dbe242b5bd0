"""Pure decision logic of the reconciler: what to do with one LB, when to try again after a
failure and when to give up. No I/O; the clock is passed in, so every decision is a table
that unit tests can walk with made-up times.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from nslb.model.enums import ProvisioningStatus as P
from nslb.model.status import PENDING


class Action(StrEnum):
    APPLY = "apply"      # read the database, render, hand the bundles to the driver
    RESYNC = "resync"    # converged: check the data plane still serves what it confirmed
    DELETE = "delete"
    NOTHING = "nothing"


class Verdict(StrEnum):
    """What a failed attempt leads to."""

    RETRY = "retry"        # try again at Attempts.retry_at; statuses stay PENDING_*
    GIVE_UP = "give_up"    # settle the pending change as failed (ERROR) now


class LbState(NamedTuple):
    """One LB as the planner reads it every round (a tuple: the planner builds one per LB
    per second, and a frozen dataclass took four times as long to build)."""

    id: str
    provisioning_status: str
    generation: int
    applied_generation: int
    child_pending: bool

    @property
    def dirty(self) -> bool:
        """True while a change (of the LB or a child) waits to reach the data plane."""
        return (self.provisioning_status in PENDING or self.child_pending
                or self.generation != self.applied_generation)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a bound: 1, 2, 4, 8, 16 s between six attempts by default,
    so a change the data plane refuses reaches ERROR about half a minute after it was made
    and a broken driver is called a handful of times, not thousands of times a second."""

    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    max_attempts: int = 6

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1-based)."""
        return float(min(self.first_delay * self.factor ** max(failures - 1, 0),
                         self.max_delay))


@dataclass(frozen=True)
class Attempts:
    """Consecutive failed attempts at one generation of one LB (kept in memory by the loop;
    a restart starts counting afresh, which is safe because the intent is in the database)."""

    generation: int
    failures: int
    retry_at: float
    reason: str


def current(lb: LbState, attempts: Attempts | None) -> Attempts | None:
    """The record if it is about the LB's present generation; a new change starts afresh."""
    return attempts if attempts is not None and attempts.generation == lb.generation else None


def decide(lb: LbState, last_sync: float | None, now: float, resync_interval: float,
           attempts: Attempts | None = None) -> Action:
    """Level-triggered: pending work is applied; converged LBs are resynced now and then,
    which is how a vanished namespace or a crashed haproxy gets rebuilt. A resync that
    failed is retried as a full apply. After a failure nothing happens until the backoff
    has passed."""
    record = current(lb, attempts)
    if record is not None and now < record.retry_at:
        return Action.NOTHING
    if lb.provisioning_status == P.PENDING_DELETE:
        return Action.DELETE
    if lb.dirty:
        return Action.APPLY
    if lb.provisioning_status != P.ACTIVE:
        return Action.NOTHING
    if record is not None:
        return Action.APPLY
    if last_sync is None or now - last_sync >= resync_interval:
        return Action.RESYNC
    return Action.NOTHING


# Converged checks per second at most. The health loop notices a dead haproxy or a deleted
# namespace within a round and has it repaired at once; what only the periodic resync finds
# (plumbing or files changed under a running amphora) may wait a little longer on a big
# host.
MAX_CHECKS_PER_SECOND = 40.0
# The share of one core the resync lane may use on a big host: each check costs what it
# costs on this host (1.5 ms of CPU at 1,000 LBs on a 2-core lab machine: netlink and /proc
# reads), so the lane paces itself by the CPU its checks took rather than by a count. At
# 1,000 LBs that is a check every ~150 ms, each LB every ~2.5 minutes, for 1 % of a core (40
# checks a second were 6 %, a third of the idle host's CPU). Octavia has no such check at
# all: its amphorae are only watched through their heartbeats, as nslb's health loop does.
RESYNC_CPU_SHARE = 0.01


def resync_pace(converged: int, resync_interval: float, cost: float = 0.0,
                share: float = 0.8) -> float:
    """Seconds between two periodic resyncs, so that `converged` LBs are each checked
    about once per interval (using `share` of it) instead of all at once: a burst of
    1,000 checks would hold the host's CPU, and the API with it, for a second or more.
    Never shorter than 1/MAX_CHECKS_PER_SECOND, nor than the lane needs to stay within
    RESYNC_CPU_SHARE of a core when a check takes `cost` seconds of CPU."""
    if converged <= 0:
        return 0.0
    return max(resync_interval * share / converged, 1.0 / MAX_CHECKS_PER_SECOND,
               cost / RESYNC_CPU_SHARE)


def after_failure(lb: LbState, attempts: Attempts | None, reason: str, now: float,
                  policy: RetryPolicy, resync_interval: float,
                  permanent: bool = False) -> tuple[Verdict, Attempts]:
    """Record one more failed attempt and say whether to retry or give up.

    A pending change is given up after `policy.max_attempts` attempts, or at once when the
    failure is `permanent` (the data plane refused the config itself): its objects go to
    ERROR. A converged LB (a periodic resync) has no change that could fail, so it is
    retried for as long as it fails, never more often than the backoff and never less
    often than the resync interval; the health loop shows the outage meanwhile.
    """
    record = current(lb, attempts)
    failures = (record.failures if record is not None else 0) + 1
    delay = policy.delay(failures)
    if not lb.dirty:
        delay = min(delay, resync_interval)
    # Even a give-up keeps a backoff: if settling fails too, the next try still waits.
    exhausted = permanent or failures >= policy.max_attempts
    verdict = Verdict.GIVE_UP if lb.dirty and exhausted else Verdict.RETRY
    return verdict, Attempts(lb.generation, failures, now + delay, reason)


def orphans(on_host: set[str], in_db: set[str]) -> set[str]:
    """Data plane that no LB in the database owns (left by a crash mid-delete)."""
    return on_host - in_db
