"""A Linux bridge takes at most 1,023 ports: the 1,024th port of a physnet is refused with
an error that says so and what to do, before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from nslb.netns.bridges import MAX_BRIDGE_PORTS, BridgeFull, check_room, ports_of


def _bridge(sysfs: Path, name: str, ports: int) -> None:
    brif = sysfs / name / "brif"
    brif.mkdir(parents=True)
    for i in range(ports):
        (brif / f"nsh{i:011x}").touch()


def test_a_bridge_with_room_takes_another_port(tmp_path: Path) -> None:
    _bridge(tmp_path, "br-ex", MAX_BRIDGE_PORTS - 1)
    check_room("br-ex", tmp_path)
    assert ports_of("br-ex", tmp_path) == MAX_BRIDGE_PORTS - 1


def test_a_full_bridge_refuses_with_a_clear_error(tmp_path: Path) -> None:
    _bridge(tmp_path, "br-ex", MAX_BRIDGE_PORTS)
    with pytest.raises(BridgeFull) as caught:
        check_room("br-ex", tmp_path)
    message = str(caught.value)
    assert "br-ex" in message and "1023 ports" in message and "--physnet" in message


def test_a_bridge_not_made_yet_has_room(tmp_path: Path) -> None:
    assert ports_of("br-new", tmp_path) == 0
    check_room("br-new", tmp_path)
