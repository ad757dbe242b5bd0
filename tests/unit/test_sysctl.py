"""Neighbour-table limits are raised, never lowered."""

from __future__ import annotations

from pathlib import Path

from nslb.netns.sysctl import NEIGH, raise_neighbour_limits


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
