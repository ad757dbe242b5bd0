"""The namespace thread (netns/hopper.py): a function runs inside the namespace, and the
thread comes back to the host's after each call, whatever the function did."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nslb.netns import hopper
from nslb.netns.sysctl import set_in_namespace
from tests.integration.lab import Lab


def _net(path: str) -> int:
    return os.stat(path).st_ino


@pytest.fixture
def namespace(lab: Lab) -> str:
    return lab.namespace("hop")


def test_a_call_runs_inside_and_the_next_one_starts_from_the_host(namespace: str) -> None:
    inside = hopper.run_inside(namespace, lambda: _net("/proc/thread-self/ns/net"))
    assert inside == _net(f"/run/netns/{namespace}")
    assert inside != _net("/proc/self/ns/net")

    def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):  # handed to the caller, thread goes on
        hopper.run_inside(namespace, fails)
    # (a namespace that does not exist is refused before anything runs)
    with pytest.raises(FileNotFoundError):
        hopper.run_inside(f"{namespace}-none", lambda: None)
    # back on the host between calls: a socket made "outside" is the host's
    here = hopper.run_inside(namespace, lambda: _net("/proc/thread-self/ns/net"))
    assert here == inside


def test_sysctls_land_in_the_namespace_and_not_on_the_host(namespace: str) -> None:
    host = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()
    set_in_namespace(namespace, {"net.ipv4.ip_unprivileged_port_start": "77"})
    seen = subprocess.run(["nsenter", f"--net=/run/netns/{namespace}", "--", "sysctl", "-n",
                           "net.ipv4.ip_unprivileged_port_start"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert seen == "77"
    assert Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text() == host
    with pytest.raises(OSError, match="sysctl in"):
        set_in_namespace(namespace, {"net.ipv4.no_such_setting": "1"})
