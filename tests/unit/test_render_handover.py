"""The VIP gate of an ACTIVE_STANDBY amphora (nslb.render.handover): golden files,
each checked by `nft -c -f`, the guard on the VIP (nft parses the file as root), and the
address the driver reads back to count the connections it waits for."""

from __future__ import annotations

from pathlib import Path

import pytest

from nslb.render.handover import HOLD, TABLE, handover_address, render_handover
from nslb.render.values import UnsafeValue
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
