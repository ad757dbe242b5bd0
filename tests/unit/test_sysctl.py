"""Host limits (neighbour tables, the receive backlog) are raised, never lowered."""

from __future__ import annotations

from pathlib import Path

from nslb.netns.sysctl import BACKLOG, NEIGH, raise_host_limits, raise_neighbour_limits


def _fake_proc(root: Path, value: int) -> None:
    for family in ("ipv4", "ipv6"):
        d = root / family / "neigh" / "default"
        d.mkdir(parents=True)
        for name in NEIGH:
            (d / name).write_text(f"{value}\n")


def test_low_limits_are_raised(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 1024)
    changed = raise_neighbour_limits(tmp_path)
    assert changed["ipv4.gc_thresh3"] == NEIGH["gc_thresh3"]
    assert (tmp_path / "ipv6/neigh/default/gc_thresh3").read_text().strip() == str(
        NEIGH["gc_thresh3"])


def test_higher_limits_are_kept(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 100000)
    assert raise_neighbour_limits(tmp_path) == {}
    assert (tmp_path / "ipv4/neigh/default/gc_thresh1").read_text().strip() == "100000"


def _fake_backlog(root: Path, value: int) -> Path:
    path = root / "core" / "netdev_max_backlog"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")
    return path


def test_the_receive_backlog_is_raised_for_floods_on_big_bridges(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 1024)
    backlog = _fake_backlog(tmp_path, 1000)
    changed = raise_host_limits(tmp_path)
    assert changed["core.netdev_max_backlog"] == BACKLOG["core.netdev_max_backlog"]
    assert changed["ipv4.gc_thresh3"] == NEIGH["gc_thresh3"]
    assert backlog.read_text().strip() == str(BACKLOG["core.netdev_max_backlog"])


def test_a_higher_backlog_is_kept(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 100000)
    backlog = _fake_backlog(tmp_path, 65536)
    assert raise_host_limits(tmp_path) == {}
    assert backlog.read_text().strip() == "65536"
