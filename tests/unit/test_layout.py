"""The move from the per-LB layout of older versions to the amphora layout (crash safe)."""

from __future__ import annotations

import os
from pathlib import Path

from nslb.amphora import layout

ID = "0a1b2c3d-0000-4000-8000-00000000000a"


def _legacy(state: Path) -> Path:
    old = state / "lb" / ID
    old.mkdir(parents=True)
    (old / "haproxy.cfg").write_text("config\n")
    return old


def test_a_legacy_directory_moves_and_leaves_a_symlink(tmp_path: Path) -> None:
    old = _legacy(tmp_path)
    assert layout.adopt_legacy_layout(tmp_path) == [ID]
    new = tmp_path / "amp" / ID
    assert new.is_dir() and not new.is_symlink()
    assert old.is_symlink() and (old / "haproxy.cfg").read_text() == "config\n"
    assert layout.adopt_legacy_layout(tmp_path) == []  # idempotent
    layout.remove_legacy_link(tmp_path, ID)
    assert not old.exists() and new.is_dir()


def test_a_move_interrupted_after_the_rename_is_completed(tmp_path: Path) -> None:
    old = _legacy(tmp_path)
    (tmp_path / "amp").mkdir()
    os.symlink(Path("..") / "amp" / ID, tmp_path / "lb" / f".{ID}.link")
    os.rename(old, tmp_path / "amp" / ID)  # the crash came here
    assert layout.adopt_legacy_layout(tmp_path) == [ID]
    assert old.is_symlink() and (old / "haproxy.cfg").read_text() == "config\n"
    assert not (tmp_path / "lb" / f".{ID}.link").exists()


def test_a_move_interrupted_before_the_rename_starts_over(tmp_path: Path) -> None:
    old = _legacy(tmp_path)
    os.symlink(Path("..") / "amp" / ID, tmp_path / "lb" / f".{ID}.link")
    assert layout.adopt_legacy_layout(tmp_path) == [ID]
    assert old.is_symlink() and (tmp_path / "amp" / ID / "haproxy.cfg").exists()


def test_nothing_to_move(tmp_path: Path) -> None:
    assert layout.adopt_legacy_layout(tmp_path) == []
    (tmp_path / "lb" / "not-a-uuid").mkdir(parents=True)
    assert layout.adopt_legacy_layout(tmp_path) == []
