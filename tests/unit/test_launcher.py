"""The environment every nslb process a test starts gets (tests/launcher.py)."""

from __future__ import annotations

from tests.launcher import nslb_env

SHELL = {"PATH": "/usr/bin", "NSLB_DB": "sqlite:////home/dev/nslb.db", "NSLB_CONFIG": "/x",
         "OS_CLOUD": "devstack", "NSLBX": "kept", "HOME": "/root"}


def test_every_nslb_variable_is_dropped_and_the_rest_kept() -> None:
    assert nslb_env(environ=SHELL) == {"PATH": "/usr/bin", "OS_CLOUD": "devstack",
                                       "NSLBX": "kept", "HOME": "/root"}


def test_more_prefixes_can_be_dropped_and_variables_set_on_purpose() -> None:
    env = nslb_env("OS_", environ=SHELL, NSLB_DEMO_TAG="ntabcdemo")
    assert env == {"PATH": "/usr/bin", "NSLBX": "kept", "HOME": "/root",
                   "NSLB_DEMO_TAG": "ntabcdemo"}


def test_the_default_is_this_process_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NSLB_DB", "sqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("HN_MARK", "1")
    env = nslb_env()
    assert "NSLB_DB" not in env and env["HN_MARK"] == "1"
