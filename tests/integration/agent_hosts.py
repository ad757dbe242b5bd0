"""Agents on test "hosts": the steps every multi-host module takes the same way.

A host is a network namespace (and, when two agents share one machine, a mount namespace
that gives each its own state dir at the one path agents require); `wrap` turns a command
into one that runs there. The join token comes from the admin CLI and reaches the agent
through NSLB_JOIN_TOKEN, so it stays out of `ps`; every process gets the environment less
the developer's NSLB_* (tests/launcher.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tests.integration.api_env import Api, ApiError
from tests.integration.conftest import CREATED_LBS, Lab
from tests.launcher import nslb_env

Wrap = Callable[..., list[str]]


def nslb(*args: str) -> list[str]:
    return [sys.executable, "-m", "nslb.cli.main", *args]


def join_token(api: Api) -> str:
    """A one-time join token from the controller, through `nslb host token`."""
    return subprocess.run(
        nslb("host", "token", "--expires", "10m", "--url", f"http://127.0.0.1:{api.port}",
             "--state-dir", str(api.state_dir)),
        capture_output=True, text=True, check=True, timeout=60, env=nslb_env()).stdout.strip()


def join(api: Api, wrap: Wrap, controller: str, address: str, state_dir: Path,
         name: str) -> str:
    """`nslb agent join` on the host; its output."""
    joined = subprocess.run(
        wrap(*nslb("agent", "join", "--controller", controller, "--address", address,
                   "--state-dir", str(state_dir), "--name", name)),
        capture_output=True, text=True, timeout=60,
        env=nslb_env(NSLB_JOIN_TOKEN=join_token(api)))
    assert joined.returncode == 0, joined.stderr
    return joined.stdout


def run(lab: Lab, wrap: Wrap, log: Path, state_dir: Path, listen: str,
        *options: str) -> subprocess.Popen[str]:
    """`nslb agent run` on the host, tracked by the lab, its output appended to `log`."""
    with open(log, "a") as out:
        return lab.track(subprocess.Popen(
            wrap(*nslb("agent", "run", "--state-dir", str(state_dir), "--listen", listen,
                       *options)),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
            env=nslb_env()))


def wait_listening(agent: subprocess.Popen[str], log: Path, host: str, port: int) -> None:
    """Until the agent accepts connections on host:port (it must not have died)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert agent.poll() is None, log.read_text()
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the agent does not listen:\n{log.read_text()}")


def amphora_dir(agent_dirs: Iterable[Path], lb_id: str) -> Path:
    """The directory of an LB's amphora among the agents' state dirs (recorded for the
    leak check)."""
    for path in sorted(p for d in agent_dirs for p in d.glob("amp/*/haproxy.cfg")):
        first = path.read_text(errors="replace").split("\n", 1)[0].split()
        if first[4:5] == [lb_id]:
            CREATED_LBS.add(path.parent.name)
            return path.parent
    raise ApiError(f"no amphora of load balancer {lb_id} on the agents' hosts")
