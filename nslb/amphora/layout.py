"""Where an amphora's files live, and the move from the layout before amphorae existed.

Versions before the amphora kept one directory per load balancer, `<state>/lb/<lb_id>/`,
and ran its haproxy with paths in it (`-f`, `-S`, `-p` on the command line). Migration 0004
made every such LB a STANDALONE amphora with the same id. Here the directory moves to
`<state>/amp/<id>/` and a symlink is left at the old place, so the running master (which
re-executes itself with its original arguments on every reload) keeps finding its files:
the data plane is adopted without a restart. The symlink goes when the amphora is deleted.

The move is crash safe: the symlink is made under a temporary name first, then the
directory is renamed, then the symlink takes the old name; a start after a crash between
those steps completes the move.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from nslb.render.haproxy import amphora_dir

log = logging.getLogger(__name__)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LEGACY = "lb"


def legacy_dir(state_dir: Path, amphora_id: str) -> Path:
    return state_dir / LEGACY / amphora_id


def _pending_link(state_dir: Path, amphora_id: str) -> Path:
    return state_dir / LEGACY / f".{amphora_id}.link"


def adopt_legacy_layout(state_dir: Path) -> list[str]:
    """Move every `<state>/lb/<id>/` directory to `<state>/amp/<id>/`; returns the ids."""
    old_root = state_dir / LEGACY
    if not old_root.is_dir():
        return []
    moved = []
    for entry in sorted(old_root.iterdir()):
        name = entry.name.removeprefix(".").removesuffix(".link")
        if (UUID.fullmatch(name) and (entry.is_symlink() or entry.is_dir())
                and _adopt(state_dir, name)):
            moved.append(name)
    if moved:
        log.info("moved %d load balancer directories to the amphora layout (%s/amp)",
                 len(moved), state_dir)
    return moved


def _adopt(state_dir: Path, amphora_id: str) -> bool:
    old, new = legacy_dir(state_dir, amphora_id), amphora_dir(state_dir, amphora_id)
    pending = _pending_link(state_dir, amphora_id)
    target = Path("..") / new.parent.name / amphora_id
    if old.is_dir() and not old.is_symlink():
        new.parent.mkdir(parents=True, exist_ok=True)
        if not pending.is_symlink():
            os.symlink(target, pending)
        os.rename(old, new)
    if pending.is_symlink() and not old.exists() and not old.is_symlink():
        os.rename(pending, old)
        return True
    pending.unlink(missing_ok=True)
    return False


def remove_legacy_link(state_dir: Path, amphora_id: str) -> None:
    """Drop the compatibility symlink of an amphora adopted from the old layout."""
    for path in (legacy_dir(state_dir, amphora_id), _pending_link(state_dir, amphora_id)):
        if path.is_symlink():
            path.unlink()


def legacy_config(state_dir: Path, amphora_id: str) -> Path:
    """The config path a master started by an older nslb has on its command line."""
    return legacy_dir(state_dir, amphora_id) / "haproxy.cfg"
