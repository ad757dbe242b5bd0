"""Placing amphorae: run the filters, weigh the hosts that passed, explain a refusal.

Nova's "No valid host was found" tells the operator nothing; here a refusal says, for every
host, the first filter that rejected it and why, summarised by filter when there are many
hosts. The two amphorae of an ACTIVE_STANDBY load balancer are placed as a group: the
second never on the first's host (nor in its zone, when the flavor asks for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from nslb.placement.filters import FILTERS, Filter
from nslb.placement.state import HostState, Request
from nslb.placement.weighers import DEFAULT_MULTIPLIERS, weigh

EXAMPLES = 3  # hosts named per filter in a refusal's summary
# A refusal only these filters made: every host is down or holds the peer (a pair that
# lost a host of two), which the explanation then says in words.
PAIR_ONLY = frozenset({"HostUp", "IgnoreHosts", "AntiAffinity"})


@dataclass(frozen=True)
class Rejection:
    host: str
    filter: str
    reason: str


class NoValidHost(Exception):
    """No host passed every filter; `rejections` says which filter stopped each one."""

    def __init__(self, req: Request, rejections: list[Rejection]) -> None:
        self.request = req
        self.rejections = rejections
        super().__init__(explain(req, rejections))


def explain(req: Request, rejections: list[Rejection]) -> str:
    """One line an operator can act on: per filter, how many hosts it rejected and why."""
    if not rejections:
        return f"No valid host for amphora {req.amphora_id}: there are no hosts."
    by_filter: dict[str, list[Rejection]] = {}
    for r in rejections:
        by_filter.setdefault(r.filter, []).append(r)
    parts = []
    for name, found in sorted(by_filter.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        shown = "; ".join(f"{r.host}: {r.reason}" for r in found[:EXAMPLES])
        more = f"; and {len(found) - EXAMPLES} more" if len(found) > EXAMPLES else ""
        parts.append(f"{name} rejected {len(found)} ({shown}{more})")
    text = f"No valid host for amphora {req.amphora_id}: " + ", ".join(parts) + "."
    if "AntiAffinity" in by_filter and set(by_filter) <= PAIR_ONLY:
        text += (" An amphora never shares a host with the other amphora of its load "
                 "balancer, which keeps serving; this one needs another host that is up "
                 "(then fail the load balancer over).")
    return text


@dataclass(frozen=True)
class Scheduler:
    """Filters in order and weigher multipliers; `place` is pure."""

    filters: Mapping[str, Filter] = field(default_factory=lambda: dict(FILTERS))
    multipliers: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_MULTIPLIERS))

    def candidates(self, hosts: Sequence[HostState],
                   req: Request) -> tuple[list[HostState], list[Rejection]]:
        passed, rejected = [], []
        for host in hosts:
            for name, check in self.filters.items():
                reason = check(host, req)
                if reason is not None:
                    rejected.append(Rejection(host.name, name, reason))
                    break
            else:
                passed.append(host)
        return passed, rejected

    def place(self, hosts: Sequence[HostState], req: Request) -> HostState:
        """The best host for one amphora; NoValidHost when none passes."""
        passed, rejected = self.candidates(hosts, req)
        if not passed:
            raise NoValidHost(req, rejected)
        passed.sort(key=lambda h: h.name)  # max() keeps the first of equal weights
        weights = weigh(passed, self.multipliers)
        return passed[max(range(len(passed)), key=weights.__getitem__)]

    def place_group(self, hosts: Sequence[HostState],
                    requests: Sequence[Request]) -> list[HostState]:
        """The amphorae of one load balancer, in order: each one's peers are the hosts
        (and zones) chosen before it, and each choice counts against its host."""
        state = {h.id: h for h in hosts}
        chosen: list[HostState] = []
        for req in requests:
            req = replace(req, peer_hosts=req.peer_hosts | {h.id for h in chosen},
                          peer_zones=req.peer_zones | {h.zone for h in chosen})
            host = self.place(list(state.values()), req)
            chosen.append(host)
            state[host.id] = replace(host, used=host.used + req.flavor.takes())
        return chosen

