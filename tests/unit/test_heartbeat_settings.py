"""The heartbeat key file and settings: made once (0600), never replaced, checked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from nslb.config import ConfigError, load
from nslb.heartbeat.keys import ensure_key, read_key


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.key"
    key = ensure_key(path)
    assert len(key) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_key(path) == key == read_key(path)


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.key"
    path.write_text("short\n")
    with pytest.raises(ValueError, match="shorter"):
        ensure_key(path)


@pytest.mark.parametrize("overrides", [
    {"heartbeat_listen": "nowhere"}, {"heartbeat_listen": "127.0.0.1:70000"},
    {"heartbeat_amphorae": "some"}, {"heartbeat_timeout": 0}, {"heartbeat_window": -1},
])
def test_bad_heartbeat_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load(None, overrides, environ={})


def test_heartbeats_are_off_by_default_and_set_from_the_environment() -> None:
    assert load(None, {}, environ={}).heartbeat_listen == ""
    settings = load(None, {}, environ={"NSLB_HEARTBEAT_LISTEN": "[::1]:5555",
                                       "NSLB_HEARTBEAT_TIMEOUT": "4.5",
                                       "NSLB_HEARTBEAT_AMPHORAE": "all"})
    assert (settings.heartbeat_listen, settings.heartbeat_timeout,
            settings.heartbeat_amphorae) == ("[::1]:5555", 4.5, "all")
