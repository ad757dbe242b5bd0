"""A Linux bridge takes at most 1,023 ports: the 1,024th port of a physnet is refused with
an error that says so and what to do, before anything is created."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from nslb.amphora.base import ConfigRejected
from nslb.amphora.namespace import NamespaceDriver
from nslb.db import bridge_room
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


def test_the_registry_counts_against_the_same_limit() -> None:
    assert bridge_room.MAX_BRIDGE_PORTS == MAX_BRIDGE_PORTS


def _full(bundle: object) -> str:
    raise BridgeFull("br-ex")


def test_a_full_bridge_settles_the_apply_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker retries an ApplyError for half a minute; no retry makes room on a full
    bridge, so the driver says ConfigRejected (settled as ERROR at once), with the reason."""
    with tempfile.TemporaryDirectory(prefix="nsbsc", dir="/tmp") as short:  # socket paths
        driver = NamespaceDriver(Path(short), {"physnet1": "br-ex"})
        monkeypatch.setattr(driver, "_apply", _full)
        with pytest.raises(ConfigRejected) as caught:
            driver.apply(SimpleNamespace(amphora_id="a" * 36))  # type: ignore[arg-type]
    assert "br-ex already has 1023 ports" in str(caught.value)
