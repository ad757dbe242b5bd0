"""The harness itself: a server a test starts reads only the flags the test gives it.

A developer's shell may export NSLB_DB or NSLB_CONFIG (the README's layers: defaults, TOML,
NSLB_*, flags). Every launcher goes through tests/launcher.py, which drops NSLB_* from the
server's environment; here the caller's environment points NSLB_DB at a database of its own
and NSLB_CONFIG at a file that does not exist (a server reading it would refuse to start),
and both launchers (the integration tier's api_env.serving and the contract tier's
NslbServer) must start a server that uses its own state directory and never sees them.

Names carry `hn` (this module's lab: bridge `<prefix>hnbr`, physnet `hnnet1`); no address
is configured anywhere.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.contract.server import NslbServer
from tests.integration.api_env import NET, serving
from tests.integration.conftest import PREFIX, STATE_DIRS
from tests.launcher import ServeProcess


@pytest.fixture
def developer_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The caller's environment as a developer's shell has it; returns the database file
    NSLB_DB names, which no server started by a test may create."""
    database = tmp_path / "developer.db"
    monkeypatch.setenv("NSLB_DB", f"sqlite:///{database}")
    monkeypatch.setenv("NSLB_CONFIG", str(tmp_path / "missing.toml"))
    return database


def server_environment(server: ServeProcess) -> dict[str, str]:
    """The environment the running server process was started with (/proc/<pid>/environ)."""
    assert server.proc is not None and server.running
    raw = Path(f"/proc/{server.proc.pid}/environ").read_bytes()
    return dict(e.split("=", 1) for e in raw.decode(errors="replace").split("\0") if "=" in e)


def test_the_integration_server_ignores_the_callers_nslb_variables(developer_shell: Path) -> None:
    with serving(tag=f"{PREFIX}hn", physnet="hnnet1") as (api, _):
        assert not [k for k in server_environment(api) if k.startswith("NSLB_")]
        net = api.network("hn-net", **{"provider:network_type": "flat",
                                       "provider:physical_network": "hnnet1"})
        assert api.call("GET", f"{NET}/networks/{net['id']}", 200)["network"]["name"] == "hn-net"
        assert (api.state_dir / "nslb.db").is_file()
        assert not developer_shell.exists()
        api.call("DELETE", f"{NET}/networks/{net['id']}", 204)


def test_the_contract_server_ignores_the_callers_nslb_variables(developer_shell: Path) -> None:
    state = Path(tempfile.mkdtemp(prefix=f"{PREFIX}hn-", dir="/tmp"))
    STATE_DIRS.append(str(state))
    server = NslbServer(state)
    try:
        server.start()
        assert not [k for k in server_environment(server) if k.startswith("NSLB_")]
        assert (state / "nslb.db").is_file()
        assert not developer_shell.exists()
    finally:
        server.kill()
        shutil.rmtree(state, ignore_errors=True)
