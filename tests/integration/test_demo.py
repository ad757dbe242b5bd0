"""`nslb demo` on a real `nslb serve` (namespace driver): it must show both web servers
answering through the VIP, and `--clean` must leave nothing behind."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

NSLB = str(Path(sys.executable).with_name("nslb"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[tuple[str, str, str]]:
    """A real nslb serve with its own state dir and bridge; stopped even on failure."""
    state = tempfile.mkdtemp(prefix="nsd-", dir="/tmp")
    bridge = f"ndm{secrets.token_hex(3)}"
    url = f"http://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [NSLB, "serve", "--state-dir", state, "--bind", url.removeprefix("http://"),
         "--physnet", f"demonet:{bridge}", "--auth", "noauth"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(state, "log"), "w"))  # noqa: SIM115
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, bridge, state
    finally:
        subprocess.run([NSLB, "demo", "--clean"], capture_output=True, timeout=60, check=False)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)


def test_demo_serves_both_backends_and_cleans_up(server: tuple[str, str, str]) -> None:
    url, bridge, _ = server
    run = subprocess.run([NSLB, "demo", "--url", url, "--physnet", "demonet",
                          "--bridge", bridge], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "Hello from web1" in run.stdout and "Hello from web2" in run.stdout
    assert "first answer through the VIP" in run.stdout

    clean = subprocess.run([NSLB, "demo", "--clean"], capture_output=True, text=True,
                           timeout=60, check=False)
    assert clean.returncode == 0, clean.stderr
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout
    assert "nslbdemo-" not in namespaces
    assert httpx.get(url + "/v2/lbaas/loadbalancers", timeout=5).json()["loadbalancers"] == []
    assert httpx.get(url + "/networking/v2.0/networks?name=nslb-demo",
                     timeout=5).json()["networks"] == []
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True,
                           check=True).stdout
    assert bridge not in links


def test_crashed_haproxy_is_restarted_within_seconds(server: tuple[str, str, str]) -> None:
    """kill -9 of an LB's haproxy: the health loop notices and the worker rebuilds it."""
    url, bridge, state = server
    run = subprocess.run([NSLB, "demo", "--url", url, "--physnet", "demonet",
                          "--bridge", bridge], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr
    lb_id = httpx.get(url + "/v2/lbaas/loadbalancers", timeout=5).json()["loadbalancers"][0]["id"]
    assert httpx.get(f"{url}/v2/lbaas/loadbalancers/{lb_id}", timeout=5).status_code == 200
    amphorae = f"{state}/amp/"  # the LB's one amphora is the only one of this server
    pgrep = subprocess.run(["pgrep", "-f", f"haproxy.*{amphorae}"], capture_output=True,
                           text=True, check=False)
    before = set(pgrep.stdout.split())
    assert before, "the LB's haproxy should be running"
    subprocess.run(["kill", "-9", *before], check=True)
    deadline = time.monotonic() + 10
    served = False
    while time.monotonic() < deadline and not served:
        probe = subprocess.run(["ip", "netns", "exec", "nslbdemo-client", "curl", "-s",
                                "--max-time", "1", "http://10.213.0.10/"],
                               capture_output=True, text=True, check=False)
        served = probe.stdout.startswith("Hello from web")
        if not served:
            time.sleep(0.1)
    assert served, "the VIP did not serve again within 10 s of killing haproxy"
    after = set(subprocess.run(["pgrep", "-f", f"haproxy.*{amphorae}"], capture_output=True,
                               text=True, check=False).stdout.split())
    assert after and not after & before
