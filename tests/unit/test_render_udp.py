"""UDP listeners as nftables rules: golden files (each checked by `nft -c -f`), the view's
JSON round trip with its guard, and the guard that refuses values outside their grammar
(nft parses them as root)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render.udp import UdpView, build_view, render_udp, rules_view, usable
from nslb.render.values import UnsafeValue
from tests.unit.golden import GOLDEN, assert_golden, assert_nft_accepts, needs_nft
from tests.unit.render_cases import listener, members, monitor, pool, snapshot

GOLDEN_DIR = GOLDEN / "udp"
SOURCE_IP = {"type": "SOURCE_IP", "persistence_timeout": 120,
             "persistence_granularity": "255.255.255.0"}


def weighted() -> LoadBalancerSnapshot:
    ms = members(3, address="10.250.1.{}")
    ms = (dataclasses.replace(ms[0], weight=3), ms[1],
          dataclasses.replace(ms[2], backup=True))
    return snapshot(listeners=(listener("UDP", 53, connection_limit=5000,
                                        allowed_cidrs=["10.250.0.0/16", "192.0.2.0/24",
                                                       "fd00::/8"]),),
                    pools=(pool("UDP", lb_algorithm="ROUND_ROBIN"),), members=ms,
                    monitors=(monitor("UDP-CONNECT", delay=3, timeout=2),))


def source_ip_persistent() -> LoadBalancerSnapshot:
    ms = members(2, address="10.250.1.{}")
    ms = (ms[0], dataclasses.replace(ms[1], admin_state_up=False))
    return snapshot(listeners=(listener("UDP", 5060),),
                    pools=(pool("UDP", lb_algorithm="SOURCE_IP", session_persistence=SOURCE_IP),),
                    members=ms)


def ipv6() -> LoadBalancerSnapshot:
    sp = {"type": "SOURCE_IP", "persistence_granularity": "ffff:ffff:ffff:ffff::"}
    return snapshot(vip="fd00:250::10", listeners=(listener("UDP", 53),),
                    pools=(pool("UDP", session_persistence=sp),),
                    members=members(2, address="fd00:250::{}"),
                    monitors=(monitor("HTTP", url_path="/health", expected_codes="200-204"),))


def no_pool() -> LoadBalancerSnapshot:
    return snapshot(listeners=(dataclasses.replace(listener("UDP", 53), default_pool_id=None),))


CASES = {"weighted": weighted, "source_ip_persistent": source_ip_persistent, "ipv6": ipv6,
         "no_pool": no_pool}


def view(name: str) -> UdpView:
    built = build_view(CASES[name]())
    assert built is not None
    return built


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_matches_golden(name: str) -> None:
    assert_golden(render_udp(view(name)), GOLDEN_DIR / f"{name}.nft")


@needs_nft
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_is_valid_for_nft(name: str) -> None:
    """`nft -c` runs the whole transaction in the kernel and aborts it: nothing changes."""
    assert_nft_accepts(GOLDEN_DIR / f"{name}.nft")


def test_weights_become_ranges_and_the_backup_waits() -> None:
    text = render_udp(view("weighted"))
    assert "numgen inc mod 4 vmap { 0-2 : goto m66666661666646668666666666666661, " \
           "3 : goto m66666662666646668666666666666662 }" in text
    assert "ct count over 5000 drop" in text
    assert "ip saddr != { 10.250.0.0/16, 192.0.2.0/24 } drop" in text  # IPv6 CIDRs left out
    assert "dnat ip to 10.250.1.23:8080" in text  # the backup's chain exists...
    only_backup = render_udp(view("weighted"), frozenset({m.id for m in
                                                           view("weighted").pools[0].members[:2]}))
    assert "numgen inc mod 1 vmap { 0 : goto m66666663666646668666666666666663 }" \
        in only_backup  # ...and takes new flows once the others are down
    assert "10.250.1.21" not in only_backup


def test_source_ip_hashes_and_persists_per_masked_source() -> None:
    text = render_udp(view("source_ip_persistent"))
    assert "jhash ip saddr mod 1 seed 0x33333333 vmap" in text
    assert "timeout 120s" in text
    assert "ip saddr & 255.255.255.0 @s66666661666646668666666666666661 goto" in text
    assert "update @s66666661666646668666666666666661 { ip saddr & 255.255.255.0 }" in text
    assert "10.250.1.22" not in text  # disabled


def test_a_pool_with_every_member_down_drops_new_flows() -> None:
    v = view("weighted")
    rules = rules_view(v, frozenset(m.id for m in v.pools[0].members))
    assert rules.pools[0].choice == "" and rules.pools[0].members == ()
    assert usable(v.pools[0], frozenset(m.id for m in v.pools[0].members)) == []


def test_disabled_listener_and_lb_have_no_rules() -> None:
    snap = weighted()
    off = dataclasses.replace(snap, lb=dataclasses.replace(snap.lb, admin_state_up=False))
    built = build_view(off)
    assert built is not None and "udp dport" not in render_udp(built)


def test_no_udp_no_view() -> None:
    assert build_view(snapshot(listeners=(listener("TCP", 53),), pools=(pool("TCP"),))) is None


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_round_trip(name: str) -> None:
    v = view(name)
    assert UdpView.from_json(v.to_json()) == v


@pytest.mark.parametrize(("path", "value"), [
    (("vip",), "10.250.0.10; flush ruleset"), (("family",), "inet"),
    (("pools", 0, "members", 0, "address"), "10.250.1.21 }"),
    (("pools", 0, "members", 0, "port"), 70000), (("pools", 0, "members", 0, "weight"), "3"),
    (("pools", 0, "id"), "x\n} table ip evil {"), (("listeners", 0, "port"), True),
    (("pools", 0, "persistence_mask"), "255.0.255.0"), (("pools", 0, "algorithm"), "random"),
    (("pools", 0, "monitor", "url_path"), "/ x"), (("lb_id",), None),
    (("listeners", 0, "allowed_cidrs", 0), "10.0.0.0/8 } accept"),
    (("listeners", 0, "allowed_cidrs", 0), "fd00::/8"),
    (("log_socket",), "/run/x/../y.sock"), (("log_socket",), "relative.sock"),
])
def test_a_tampered_view_is_refused(path: tuple[object, ...], value: object) -> None:
    data = json.loads(view("weighted").to_json())
    data["pools"][0]["persistence_mask"] = ""
    target = data
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = value  # type: ignore[index]
    with pytest.raises(UnsafeValue):
        UdpView.from_json(json.dumps(data))


@pytest.mark.parametrize(("change", "kind"), [
    ({"address": "10.250.1.21%eth0"}, "member"), ({"address": "010.250.1.21"}, "member"),
    ({"weight": 257}, "member"), ({"protocol_port": 0}, "member"),
    ({"persistence_granularity": "255.255.0.255"}, "pool"),
    ({"persistence_granularity": "ffff::"}, "pool"),
    ({"persistence_timeout": -5}, "pool"), ({"lb_algorithm": "LEAST_CONNECTIONS"}, "pool"),
])
def test_values_outside_their_grammar_are_refused(change: dict[str, object], kind: str) -> None:
    snap = weighted()
    if kind == "member":
        ms = (dataclasses.replace(snap.members[0], **change), *snap.members[1:])
        snap = dataclasses.replace(snap, members=ms)
    else:
        sp = {"type": "SOURCE_IP", **{k: x for k, x in change.items() if "persistence" in k}}
        p = dataclasses.replace(snap.pools[0], session_persistence=sp, **{
            k: x for k, x in change.items() if "persistence" not in k})
        snap = dataclasses.replace(snap, pools=(p,))
    with pytest.raises(UnsafeValue):
        build_view(snap)


def test_persistence_entries_survive_a_reload() -> None:
    """What the agent read from the table it replaces goes back into the new one, so a
    member change does not reset every client's stickiness; entries are checked."""
    v = view("source_ip_persistent")
    kept = {"s66666661666646668666666666666661": [("10.9.8.0", 80), ("10.9.9.0", 500)]}
    text = render_udp(v, kept=kept)
    assert "elements = { 10.9.8.0 timeout 120s expires 80s, 10.9.9.0 timeout 120s " \
           "expires 120s }" in text
    for bad in [("10.9.8.0 } ; flush ruleset ; {", 5), ("fd00::", 5), ("10.9.8.0", -1)]:
        with pytest.raises(UnsafeValue):
            render_udp(v, kept={"s66666661666646668666666666666661": [bad]})


@needs_nft
def test_kept_entries_are_valid_for_nft(tmp_path: Path) -> None:
    path = tmp_path / "kept.nft"
    path.write_text(render_udp(view("source_ip_persistent"), kept={
        "s66666661666646668666666666666661": [("10.9.8.0", 80)]}))
    assert_nft_accepts(path)
