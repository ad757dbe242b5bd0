"""The filter scheduler over tables of hosts (nslb/placement): every filter, the weighers,
the explanation of a refusal, and anti-affinity when an amphora is replaced."""

from __future__ import annotations

import pytest

from nslb.placement.extra_specs import aggregate_key, matches
from nslb.placement.scheduler import NoValidHost, Scheduler
from nslb.placement.state import ComputeFlavor, HostState, Request, Resources

CAP = Resources(amphorae=10, memory_mb=4096, connections=100_000)


def host(name: str, *, up: bool = True, zone: str | None = "az1", used: int = 0,
         memory: int = 0, connections: int = 0, aggregates: dict[str, str] | None = None,
         **metadata: str) -> HostState:
    """A host; its aggregates' metadata as key=comma-separated values."""
    merged = {**(aggregates or {}), **metadata}
    return HostState(id=f"id-{name}", name=name, up=up, capacity=CAP,
                     used=Resources(used, memory, connections), zone=zone,
                     metadata={k: frozenset(v.split(",")) for k, v in merged.items()})


SSD = ComputeFlavor("gold", memory_mb=512, connections=10_000,
                    extra_specs={"aggregate_instance_extra_specs:ssd": "true"})


def place(hosts: list[HostState], **request: object) -> str:
    return Scheduler().place(hosts, Request("amp-1", **request)).name  # type: ignore[arg-type]


def refusal(hosts: list[HostState], **request: object) -> str:
    with pytest.raises(NoValidHost) as caught:
        place(hosts, **request)
    return str(caught.value)


# --- each filter -------------------------------------------------------------------------


def test_a_host_that_is_down_is_never_chosen() -> None:
    assert place([host("a", up=False), host("b", used=9)]) == "b"
    assert "HostUp rejected 1 (a: host is down or draining)" in refusal([host("a", up=False)])


def test_the_zone_asked_for_is_kept() -> None:
    hosts = [host("a", zone="az1"), host("b", zone="az2", used=5)]
    assert place(hosts, zones=frozenset({"az2"})) == "b"
    assert place(hosts, zones=frozenset({"az1", "az2"})) == "a"
    assert place([host("a", zone=None)]) == "a"
    assert "a: in zone az1, asked az3" in refusal(hosts, zones=frozenset({"az3"}))


@pytest.mark.parametrize(("metadata", "chosen"), [
    ({"ssd": "true"}, True),
    ({"ssd": "false,true"}, True),   # two aggregates: one of their values matches
    ({"ssd": "false"}, False),
    ({}, False),
])
def test_aggregate_metadata_must_match_the_flavor(metadata: dict[str, str],
                                                  chosen: bool) -> None:
    hosts = [host("a", aggregates=metadata)]
    if chosen:
        assert place(hosts, flavor=SSD) == "a"
    else:
        assert "AggregateInstanceExtraSpecs rejected 1" in refusal(hosts, flavor=SSD)


def test_the_refusal_names_the_spec_and_the_values() -> None:
    assert "a: ssd=false does not match 'true'" in refusal([host("a", ssd="false")],
                                                           flavor=SSD)
    assert "a: no aggregate of the host sets ssd" in refusal([host("a")], flavor=SSD)


def test_specs_of_other_scopes_are_for_other_filters() -> None:
    flavor = ComputeFlavor(extra_specs={"hw:cpu_policy": "dedicated", "nic": "fast"})
    assert place([host("a", nic="fast")], flavor=flavor) == "a"


@pytest.mark.parametrize(("used", "memory", "connections", "reason"), [
    (10, 0, 0, "holds 10 of 10 amphorae"),
    (0, 3800, 0, "296 MB free, the flavor takes 512 MB"),
    (0, 0, 95_000, "5000 connections free, the flavor takes 10000"),
])
def test_a_full_host_says_what_is_full(used: int, memory: int, connections: int,
                                       reason: str) -> None:
    full = host("a", used=used, memory=memory, connections=connections, ssd="true")
    assert f"Capacity rejected 1 (a: {reason})" in refusal([full], flavor=SSD)


def test_anti_affinity_by_host_and_by_zone() -> None:
    hosts = [host("a", zone="az1"), host("b", zone="az1", used=8), host("c", zone="az2",
                                                                       used=9)]
    assert place(hosts, peer_hosts=frozenset({"id-a"})) == "b"
    assert place(hosts, peer_hosts=frozenset({"id-a"}), peer_zones=frozenset({"az1"}),
                 zone_anti_affinity=True) == "c"
    text = refusal(hosts[:2], peer_hosts=frozenset({"id-a"}), peer_zones=frozenset({"az1"}),
                   zone_anti_affinity=True)
    assert "a: holds another amphora of the load balancer" in text
    assert "b: zone az1 holds another amphora of the load balancer" in text


# --- weighers -----------------------------------------------------------------------------


def test_the_least_loaded_host_wins_and_ties_go_by_name() -> None:
    assert place([host("a", used=5), host("b", used=2), host("c", used=7)]) == "b"
    assert place([host("c", used=1), host("b", used=1), host("a", used=3)]) == "b"


def test_other_weighers_can_be_chosen() -> None:
    hosts = [host("a", used=1, memory=3000), host("b", used=5, memory=0)]
    assert Scheduler().place(hosts, Request("x")).name == "a"
    by_memory = Scheduler(multipliers={"free_memory": 1.0})
    assert by_memory.place([host("a", memory=3000), host("b", used=5)],
                           Request("x")).name == "b"
    both = Scheduler(multipliers={"least_loaded": 1.0, "free_memory": 3.0})
    assert both.place([host("a", used=1, memory=3000), host("b", used=5)],
                      Request("x")).name == "b"


# --- groups, failover, drain ---------------------------------------------------------------


def test_a_pair_never_shares_a_host() -> None:
    hosts = [host("a"), host("b", used=3), host("c", used=6)]
    chosen = Scheduler().place_group(hosts, [Request("m"), Request("b")])
    assert [h.name for h in chosen] == ["a", "b"]
    with pytest.raises(NoValidHost, match="AntiAffinity rejected 1"):
        Scheduler().place_group([host("a")], [Request("m"), Request("b")])


def test_a_pair_with_zone_anti_affinity_spans_zones() -> None:
    hosts = [host("a", zone="az1"), host("b", zone="az1"), host("c", zone="az2", used=9)]
    reqs = [Request("m", zone_anti_affinity=True), Request("b", zone_anti_affinity=True)]
    assert [h.name for h in Scheduler().place_group(hosts, reqs)] == ["a", "c"]


def test_a_group_counts_its_own_placements() -> None:
    hosts = [host("a", used=9), host("b", used=9)]
    assert [h.name for h in Scheduler().place_group(hosts, [Request("1"), Request("2")])] \
        == ["a", "b"]


def test_failover_leaves_the_failed_host_and_keeps_away_from_the_peer() -> None:
    # the MASTER is on a, the BACKUP on b (failed): its replacement may go to neither
    hosts = [host("a"), host("b"), host("c", used=9)]
    req = Request("new-backup", ignore_hosts=frozenset({"id-b"}),
                  peer_hosts=frozenset({"id-a"}))
    assert Scheduler().place(hosts, req).name == "c"
    text = str(pytest.raises(NoValidHost, Scheduler().place, hosts[:2], req).value)
    assert "a: holds another amphora" in text and "b: the amphora being replaced is there" \
        in text
    assert text.endswith("An amphora never shares a host with the other amphora of its "
                         "load balancer, which keeps serving; this one needs another host "
                         "that is up (then fail the load balancer over).")
    zoned = [host("a"), host("b", zone="az2")]
    assert "keeps serving" not in str(pytest.raises(  # other reasons: no such sentence
        NoValidHost, Scheduler().place, zoned, Request(
            "x", peer_hosts=frozenset({"id-a"}), zones=frozenset({"az1"}))).value)


# --- the explanation ------------------------------------------------------------------------


def test_many_hosts_are_summarised_by_filter() -> None:
    hosts = [host(f"h{i:02}", up=False) for i in range(5)] + [
        host(f"z{i}", zone="az2") for i in range(2)]
    text = refusal(hosts, zones=frozenset({"az1"}))
    assert text.startswith("No valid host for amphora amp-1: HostUp rejected 5 (h00: host "
                           "is down or draining; h01: host is down or draining; h02: host "
                           "is down or draining; and 2 more), "
                           "AvailabilityZone rejected 2 (z0: in zone az2, asked az1; z1:")
    assert refusal([]) == "No valid host for amphora amp-1: there are no hosts."


# --- Nova's requirement language ---------------------------------------------------------


@pytest.mark.parametrize(("value", "requirement", "ok"), [
    ("true", "true", True), ("True", "true", False),
    ("8", "= 4", True), ("2", "= 4", False), ("4", "== 4.0", True), ("4", "!= 4", False),
    ("5", ">= 5", True), ("6", "<= 5", False), ("x", ">= 5", False),
    ("abc", "s== abc", True), ("abc", "s!= abc", False), ("abc", "s< abd", True),
    ("abc", "s<= abc", True), ("abd", "s> abc", True), ("abc", "s>= abd", False),
    ("fast-nic", "<in> nic", True), ("fast", "<in> nic", False),
    ("avx avx2 sse", "<all-in> avx2 sse", True), ("avx", "<all-in> avx2", False),
    ("b", "<or> a <or> b <or> c", True), ("d", "<or> a <or> b", False),
    ("4", "==", False),
])
def test_requirements(value: str, requirement: str, ok: bool) -> None:
    assert matches(value, requirement) is ok


def test_scopes() -> None:
    assert aggregate_key("aggregate_instance_extra_specs:ssd") == "ssd"
    assert aggregate_key("ssd") == "ssd"
    assert aggregate_key("hw:cpu_policy") is None
