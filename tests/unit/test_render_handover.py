"""The VIP gate of an amphora (nslb.render.handover): golden files,
each checked by `nft -c -f`, the guard on the VIP (nft parses the file as root), and the
address the driver reads back to count the connections it waits for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nslb.model.bundle import HostFacts
from nslb.model.resources import Amphora
from nslb.render.bundle import build_bundle
from nslb.render.handover import HOLD, TABLE, handover_address, render_handover
from nslb.render.values import UnsafeValue
from tests.snapshots import http_lb, with_listener
from tests.unit.golden import GOLDEN, assert_golden, assert_nft_accepts, needs_nft

GOLDEN_DIR = GOLDEN / "nftables"
CASES = {"handover_v4": "10.250.0.10", "handover_v6": "2001:db8::10"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_matches_golden(name: str) -> None:
    assert_golden(render_handover(CASES[name]), GOLDEN_DIR / f"{name}.nft")


@needs_nft
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_file_is_valid_for_nft(name: str) -> None:
    assert_nft_accepts(GOLDEN_DIR / f"{name}.nft")


def test_only_new_connections_to_the_vip_pass_the_gate() -> None:
    """A SYN without ACK is a new connection; segments of connections in flight pass."""
    assert "ip daddr 10.250.0.10 tcp flags syn / syn,ack jump gate" in \
        render_handover("10.250.0.10")
    assert "ip6 daddr 2001:db8::10 tcp flags syn / syn,ack jump gate" in \
        render_handover("2001:db8::10")


def test_the_gate_lets_in_what_a_socket_takes_and_drops_the_rest() -> None:
    gate = render_handover("10.250.0.10").split("chain gate {")[1].split()
    assert gate[:9] == ["socket", "transparent", "0", "accept", "socket", "transparent", "1",
                        "accept", "drop"]


def test_loading_the_file_twice_changes_nothing() -> None:
    """It replaces its own table in one transaction (the driver loads it on every full
    apply), and HOLD puts the unconditional drop first in the gate."""
    lines = render_handover("10.250.0.10").splitlines()
    assert lines[2:4] == [f"table inet {TABLE} {{}}", f"delete table inet {TABLE}"]
    assert HOLD.split() == ["insert", "rule", "inet", TABLE, "gate", "drop"]


@needs_nft
def test_the_file_with_hold_is_valid_for_nft(tmp_path: Path) -> None:
    path = tmp_path / "hold.nft"
    path.write_text(render_handover("10.250.0.10") + HOLD)
    assert_nft_accepts(path)


@pytest.mark.parametrize("vip", ["10.0.0.1; flush ruleset", "10.0.0.01", "fe80::1%eth0",
                                 "2001:DB8::1", "", "10.0.0.1\n"])
def test_a_vip_outside_its_grammar_is_refused(vip: str) -> None:
    with pytest.raises(UnsafeValue):
        render_handover(vip)


@pytest.mark.parametrize("vip", sorted(CASES.values()))
def test_the_driver_reads_the_vip_back(vip: str) -> None:
    assert handover_address(render_handover(vip)) == vip


def test_a_file_that_is_not_a_handover_names_no_vip() -> None:
    assert handover_address("table inet x {}\n") is None
    assert handover_address("ip daddr 10.0.0.1;x tcp\n") is None


# --- a STANDALONE amphora's gate: only its enabled listeners' ports -------------------------

STANDALONE = GOLDEN_DIR / "handover_standalone_v4.nft"


def test_a_standalone_gate_matches_golden() -> None:
    assert_golden(render_handover("10.250.0.10", (443, 80)), STANDALONE)
    assert "ip daddr 10.250.0.10 tcp dport { 80, 443 } tcp flags syn / syn,ack jump gate" \
        in STANDALONE.read_text()
    assert handover_address(STANDALONE.read_text()) == "10.250.0.10"


@needs_nft
def test_the_standalone_golden_is_valid_for_nft(tmp_path: Path) -> None:
    assert_nft_accepts(STANDALONE)
    path = tmp_path / "hold.nft"
    path.write_text(STANDALONE.read_text() + HOLD)
    assert_nft_accepts(path)


@pytest.mark.parametrize("ports", [(), (0,), (65536,), (80, 0), (True,), ("80",)])
def test_ports_outside_their_grammar_are_refused(ports: tuple[object, ...]) -> None:
    with pytest.raises(UnsafeValue):
        render_handover("10.250.0.10", ports)  # type: ignore[arg-type]


def test_a_standalone_bundle_gates_its_enabled_listeners_only() -> None:
    """A replacement holds SYNs to its listeners back until haproxy listens; a disabled
    listener (or LB) is refused at once as before, so it has no gate."""
    snap = http_lb([("10.250.1.21", {})])
    amphora = Amphora(id=snap.lb.id, loadbalancer_id=snap.lb.id)
    facts = HostFacts(host="h", state_dir="/var/lib/nslb", fd_limit=4096)
    files = build_bundle(snap, amphora, facts).files
    assert "tcp dport { 80 }" in files["handover.nft"]
    assert handover_address(files["handover.nft"]) == "10.250.1.10"
    for off in (with_listener(snap, admin_state_up=False),
                dataclasses.replace(snap, lb=dataclasses.replace(snap.lb,
                                                                 admin_state_up=False))):
        assert "handover.nft" not in build_bundle(off, amphora, facts).files
