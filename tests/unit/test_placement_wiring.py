"""The pure parts of the scheduler's wiring (nslb/amphora/placement.py): what an LB asks
of its amphorae' hosts (zone, compute flavor, peers, failover's ignored hosts), and how
a host's capacity reads "no limit"."""

from __future__ import annotations

from datetime import datetime

import pytest

from nslb.amphora import placement
from nslb.db import compute
from nslb.placement.scheduler import Scheduler
from nslb.placement.state import HostState, Resources


def gold(**specs: str) -> compute.Flavor:
    return compute.Flavor(id="gold", name="amp.gold", ram=256, vcpus=1, disk=0,
                          is_public=True, description=None,
                          extra_specs={"aggregate_instance_extra_specs:ssd": "true",
                                       "nslb:max_connections": "500", **specs},
                          created_at=datetime(2026, 12, 3))


def test_requests_carry_zone_flavor_peers_and_ignored_hosts() -> None:
    wants = placement.LbWants(zone="az-a", flavor=gold())
    [req] = placement.requests(["amp-1"], wants, {"h2"}, {"az-a"}, {"h1"})
    assert req.zones == frozenset({"az-a"})
    assert (req.flavor.name, req.flavor.memory_mb, req.flavor.connections) == ("gold", 256, 500)
    assert req.flavor.extra_specs["aggregate_instance_extra_specs:ssd"] == "true"
    assert (req.peer_hosts, req.ignore_hosts) == (frozenset({"h2"}), frozenset({"h1"}))
    assert req.zone_anti_affinity is False


def test_no_zone_no_flavor_asks_for_nothing_and_spread_is_opt_in() -> None:
    [req] = placement.requests(["a"], placement.LbWants(None, None), set(), set(), set())
    assert (req.zones, req.flavor.memory_mb, dict(req.flavor.extra_specs)) == (
        frozenset(), 0, {})
    spread = placement.LbWants("az-a", gold(**{placement.ZONE_ANTI_AFFINITY_SPEC: "True"}))
    assert placement.requests(["a"], spread, set(), set(), set())[0].zone_anti_affinity


def test_a_pair_with_zone_spread_needs_two_zones() -> None:
    """The flavor's zone anti-affinity: two hosts in one zone are not enough for a pair."""
    def host(name: str, zone: str) -> HostState:
        return HostState(id=name, name=name, up=True, zone=zone,
                         capacity=Resources(placement.UNLIMITED, placement.UNLIMITED,
                                            placement.UNLIMITED),
                         metadata={"ssd": frozenset({"true"})})
    wants = placement.LbWants(None, gold(**{placement.ZONE_ANTI_AFFINITY_SPEC: "true"}))
    reqs = placement.requests(["m", "b"], wants, set(), set(), set())
    hosts = [host("h1", "az-a"), host("h2", "az-a"), host("h3", "az-b")]
    chosen = Scheduler().place_group(hosts, reqs)
    assert sorted(h.zone or "" for h in chosen) == ["az-a", "az-b"]


def test_least_loaded_up_host_apart_from_siblings_within_capacity() -> None:
    """What the remote driver did before the scheduler, now through it: the least loaded
    host that is up and not full, never a sibling's host; a full or down host never."""
    def host(name: str, used: int, up: bool = True, limit: int = 0) -> HostState:
        return HostState(id=name, name=name, up=up,
                         capacity=Resources(limit or placement.UNLIMITED, placement.UNLIMITED,
                                            placement.UNLIMITED),
                         used=Resources(used, 0, 0))
    a, b, c, full = host("a", 3), host("b", 1), host("c", 0, up=False), host("d", 2, limit=2)
    plain = placement.LbWants(None, None)

    def choose(hosts: list[HostState], siblings: set[str]) -> str:
        [req] = placement.requests(["x"], plain, siblings, set(), set())
        return Scheduler().place(hosts, req).name

    assert choose([a, b, c], set()) == "b"
    assert choose([a, b, c], {"b"}) == "a"
    assert choose([full, a], set()) == "a"


def test_weighers_are_configured_by_name_and_checked() -> None:
    from nslb.config import ConfigError, Settings
    from nslb.placement.weighers import parse_multipliers

    assert parse_multipliers("least_loaded=1, free_memory=0.5") == {
        "least_loaded": 1.0, "free_memory": 0.5}
    Settings(placement_weighers="free_connections=2").validate()
    for bad in ("fastest=1", "least_loaded", "least_loaded=x"):
        with pytest.raises(ConfigError, match="placement weigher"):
            Settings(placement_weighers=bad).validate()
