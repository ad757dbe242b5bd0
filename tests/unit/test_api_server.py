"""The server settings around the API: connection limits from settings and the descriptor
limit, the descriptor limit itself, refusal logging, request-log escaping, the new settings."""

from __future__ import annotations

import logging
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.api.requestlog import MAX_LOGGED_CHARS, loggable, new_request_id
from nslb.api.server import (
    ConnectionLimits,
    GuardedH11Protocol,
    RefusalLog,
    protocol_class,
    raise_fd_limit,
    server_config,
)
from nslb.config import ConfigError, Settings, load


def test_limits_come_from_settings() -> None:
    settings = Settings(header_timeout=3, body_timeout=7, keepalive_timeout=2,
                        max_connections=100, max_body_bytes=5000)
    limits = ConnectionLimits.from_settings(settings, fd_limit=100_000)
    assert limits == ConnectionLimits(header_timeout=3, body_timeout=7, keepalive_timeout=2,
                                      max_connections=100, drain_bytes=5000)


def test_connection_cap_leaves_half_the_descriptors(caplog: pytest.LogCaptureFixture) -> None:
    limits = ConnectionLimits.from_settings(Settings(max_connections=4096), fd_limit=1024)
    assert limits.max_connections == 512
    assert "lowered to 512" in caplog.text


def test_protocol_class_carries_its_limits() -> None:
    one = ConnectionLimits.from_settings(Settings(max_connections=10))
    two = ConnectionLimits.from_settings(Settings(max_connections=20))
    first, second = protocol_class(one), protocol_class(two)
    assert issubclass(first, GuardedH11Protocol)
    assert (first.limits.max_connections, second.limits.max_connections) == (10, 20)
    assert first.refusals is not second.refusals


def test_server_config_uses_the_guarded_protocol(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, bind="127.0.0.1:9999", max_connections=7)
    config = server_config(object(), settings, fd_limit=1_000_000)
    assert issubclass(config.http, GuardedH11Protocol)  # type: ignore[arg-type]
    assert config.http.limits.max_connections == 7  # type: ignore[union-attr]
    assert (config.host, config.port, config.access_log) == ("127.0.0.1", 9999, False)


@pytest.fixture
def restore_nofile() -> Iterator[tuple[int, int]]:
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield saved
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_raise_fd_limit_goes_to_the_hard_limit(restore_nofile: tuple[int, int]) -> None:
    _, hard = restore_nofile
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    soft = raise_fd_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    if hard != resource.RLIM_INFINITY:
        assert soft == hard
    else:
        assert soft > 256


def test_refusals_are_logged_at_most_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="nslb.api.server")
    refusals = RefusalLog(every=3600)
    for _ in range(1000):
        refusals.note(cap=10)
    assert len(caplog.records) == 1
    assert refusals.count == 999  # counted for the next line


def test_loggable_is_one_short_line() -> None:
    assert loggable("/v2/lbaas/loadbalancers") == "/v2/lbaas/loadbalancers"
    forged = loggable("/x\n2026-12-03 INFO nslb: fake\r\x1b[31m\ud800")
    assert "\n" not in forged and "\r" not in forged and "\x1b" not in forged
    forged.encode("ascii")
    long = loggable("/" + "a" * 10_000)
    assert long.endswith("...") and len(long) == MAX_LOGGED_CHARS + 3


def test_request_ids_are_openstack_style_and_unique() -> None:
    ids = {new_request_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("req-") and len(i) == 40 for i in ids)


def test_http_settings_from_environment_and_file(tmp_path: Path) -> None:
    env = {"NSLB_MAX_BODY_BYTES": "2048", "NSLB_HEADER_TIMEOUT": "2.5",
           "NSLB_MAX_CONNECTIONS": "50"}
    settings = load(environ=env)
    assert (settings.max_body_bytes, settings.header_timeout, settings.max_connections) == (
        2048, 2.5, 50)
    config = tmp_path / "nslb.toml"
    config.write_text("keepalive-timeout = 3\nbody_timeout = 9.5\n")
    settings = load(config, environ={})
    assert (settings.keepalive_timeout, settings.body_timeout) == (3.0, 9.5)
    assert Settings().max_body_bytes == 1024 * 1024


@pytest.mark.parametrize("env", [{"NSLB_MAX_BODY_BYTES": "0"}, {"NSLB_HEADER_TIMEOUT": "-1"},
                                 {"NSLB_MAX_CONNECTIONS": "many"}])
def test_bad_http_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load(environ=env)
