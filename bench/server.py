"""Start and stop a real `nslb serve` for a benchmark."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

NSLB = str(Path(sys.executable).with_name("nslb"))
PROJECT = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _without_nslb_settings() -> dict[str, str]:
    """This environment less NSLB_*: a developer's NSLB_DB or NSLB_CONFIG must not reach
    the server a benchmark starts (tests/launcher.py does the same for the tests)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NSLB_")}


@contextmanager
def nslb_serve(driver: str, physnet: str, extra: tuple[str, ...] = (),
               start_timeout: float = 20) -> Iterator[tuple[str, int]]:
    """Yield (base url, pid) of a fresh nslb serve; its state dir is removed afterwards."""
    state = tempfile.mkdtemp(prefix="nsb-", dir="/tmp")
    url = f"http://127.0.0.1:{free_port()}"
    log = open(os.path.join(state, "serve.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen([NSLB, "serve", "--amphora-driver", driver, "--state-dir", state,
                             "--bind", url.removeprefix("http://"), "--physnet", physnet,
                             "--auth", "noauth", "--log-level", "WARNING", *extra],
                            stdout=log, stderr=log, env=_without_nslb_settings())
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"nslb serve did not start: see {state}/serve.log")  # noqa: B904
                time.sleep(0.05)
        yield url, proc.pid
    finally:
        stop(proc, timeout=20)
        log.close()
        purge_dataplane(state)
        shutil.rmtree(state, ignore_errors=True)


def stop(proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    """SIGTERM (a serve gives its leases back and stops its data plane), then SIGKILL
    after `timeout` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def keepalived_pids(state: str) -> list[int]:
    """keepalived processes (parent and VRRP child) of the amphorae under `state`."""
    marker = f"{state}/amp/".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if b"keepalived" in cmdline.split(b"\0")[0] and marker in cmdline:
                pids.append(int(entry))
    return pids


def haproxy_pids(state: str) -> list[int]:
    """haproxy processes (masters and workers) and UDP agents whose command line names a
    file under `state`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = any(arg.startswith(state.encode() + b"/") for arg in cmdline)
        if ours and cmdline and (cmdline[0].endswith(b"haproxy")
                                 or b"nslb.amphora.udp_agent" in cmdline):
            pids.append(int(entry))
    return pids


def purge_dataplane(state: str) -> None:
    """Whatever a benchmark left under `state` (on failure or Ctrl-C): kill its haproxies and
    delete the namespaces of its amphorae (which removes their veths). A no-op after a clean run."""
    for pid in haproxy_pids(state):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    amphorae = Path(state) / "amp"
    if amphorae.is_dir():
        for amphora in amphorae.iterdir():
            subprocess.run(["ip", "netns", "del", f"nslb-{amphora.name}"], capture_output=True,
                           timeout=30, check=False)


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30, headers={"X-Project-Id": PROJECT})


def make_network(api: httpx.Client, physnet: str, cidr: str) -> str:
    """A flat network and subnet; returns the subnet id."""
    net = api.post("/networking/v2.0/networks", json={"network": {
        "name": "bench", "provider:network_type": "flat",
        "provider:physical_network": physnet}}).json()["network"]
    sub = api.post("/networking/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": cidr, "ip_version": 4,
        "gateway_ip": None}}).json()["subnet"]
    return str(sub["id"])


def wait_lb(api: httpx.Client, lb_id: str, want: str = "ACTIVE", timeout: float = 60,
            interval: float = 0.002) -> None:
    """Poll the LB until its provisioning_status is `want` (raise on ERROR or timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
        if status["provisioning_status"] == want:
            return
        if status["provisioning_status"] == "ERROR":
            raise RuntimeError(f"load balancer {lb_id} went to ERROR")
        time.sleep(interval)
    raise RuntimeError(f"load balancer {lb_id} not {want} after {timeout} s")
