"""Fixtures for integration tests: a private bridge, backend and client namespaces, a driver.

Everything a test creates is named with a per-session prefix (or is an LB the test applied)
and is removed by the fixture even when the test fails; a session finalizer then asserts
that nothing named like that is left on the host. Addresses (10.250.0.0/16, fd00:250::/64)
are used only inside namespaces the tests created.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.amphora.base import ConfigRejected
from nslb.amphora.namespace import NamespaceDriver
from nslb.model.bundle import Bundle
from nslb.model.resources import Amphora
from nslb.netns.names import host_ifname
from nslb.render.bundle import InconsistentSnapshot, build_bundle
from nslb.render.values import UnsafeValue

HERE = Path(__file__).parent
PREFIX = f"nt{secrets.token_hex(2)}"
PHYSNET = "physnet1"
HAPROXY = "/usr/sbin/haproxy"
CREATED_LBS: set[str] = set()
CREATED_PORTS: set[str] = set()
STATE_DIRS: list[str] = []
# Processes this session started from this directory (others may run these tests concurrently).
STARTED_PIDS: set[int] = set()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this directory `integration` and skip it where it cannot run."""
    reason = None
    if os.geteuid() != 0:
        reason = "integration tests need root"
    elif not os.path.exists(HAPROXY):
        reason = "haproxy is not installed"
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def sh(*args: str, check: bool = True, timeout: float = 30) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                            check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


class Lab:
    """Bridges, namespaces and processes of one test, all removed by cleanup()."""

    _count = 0

    def __init__(self, bridge: str | None = None, tag: str | None = None) -> None:
        """A lab on its own new bridge, or on `bridge` (then not deleted by cleanup).

        `tag` must not be a prefix of any other lab's tag (cleanup removes links by prefix).
        """
        Lab._count += 1
        self.tag = tag or f"{PREFIX}{Lab._count % 36:x}"
        self.bridges: list[str] = []
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []
        self.bridge = bridge or self.add_bridge("br")

    def add_bridge(self, suffix: str) -> str:
        name = f"{self.tag}{suffix}"
        sh("ip", "link", "add", name, "type", "bridge")
        self.bridges.append(name)
        sh("ip", "link", "set", name, "up")
        return name

    def host(self, name: str, addresses: list[str], bridge: str | None = None) -> str:
        """A namespace `<tag>-<name>` with eth0 on `bridge` (default: the lab bridge)."""
        ns = f"{self.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        veth = f"{self.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", bridge or self.bridge, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
        for address in addresses:
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", address, "dev", "eth0", "nodad")
        return ns

    def serve(self, ns: str, name: str, port: int = 8080) -> subprocess.Popen[str]:
        """Start the echo server in `ns` and wait until it is listening."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "echo_server.py"), name,
             str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.track(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    def track(self, proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
        """Kill `proc` at cleanup; the session finalizer checks it is gone."""
        self.procs.append(proc)
        STARTED_PIDS.add(proc.pid)
        return proc

    def stop(self, proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def probe(self, ns: str, url: str, count: int = 1, timeout: float = 2.0,
              options: tuple[str, ...] = ()) -> list[dict]:
        """`count` requests from `ns`; `options` are http_probe's (--header, --cookies)."""
        out = sh("ip", "netns", "exec", ns, sys.executable, str(HERE / "http_probe.py"),
                 *options, url, str(count), str(timeout), timeout=60)
        return list(json.loads(out))

    def names(self, ns: str, url: str, count: int) -> list[str]:
        """Backend names that answered `count` fresh requests ("error" for failures)."""
        return [str(r.get("name", "error")) for r in self.probe(ns, url, count)]

    def start_loop(self, ns: str, url: str, stopfile: Path, limit: int | None = None,
                   keepalive: bool = False,
                   timeout: float | None = None) -> subprocess.Popen[str]:
        """A client loop in `ns` until `stopfile` appears (new connection per request, or
        one kept-alive connection); each request waits `timeout` s (default 2)."""
        extra = [str(limit)] if limit is not None else []
        if timeout is not None:
            extra = [extra[0] if extra else "-", str(timeout)]
        mode = "--loop-keepalive" if keepalive else "--loop"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "http_probe.py"), mode,
             url, str(stopfile), *extra], stdout=subprocess.PIPE, text=True)
        self.track(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        for bridge in self.bridges:
            sh("ip", "link", "del", bridge, check=False)
        for link in _links_with_prefix(self.tag):
            sh("ip", "link", "del", link, check=False)


def _links_with_prefix(prefix: str) -> list[str]:
    out = sh("ip", "-o", "link", "show")
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n.startswith(prefix)]


def wait_for(predicate, timeout: float, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; bounded by time."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


@pytest.fixture
def lab() -> Iterator[Lab]:
    the_lab = Lab()
    try:
        yield the_lab
    finally:
        the_lab.cleanup()


class TrackingDriver(NamespaceDriver):
    """The real driver, remembering what it was asked to build so fixtures can remove it.

    Tests hand it a snapshot of one LB: it renders the bundle of the LB's STANDALONE
    amphora (id = the LB's id, unless the snapshot names its amphorae) as the worker
    would, and applies that."""

    def apply(self, snapshot):  # type: ignore[no-untyped-def]
        if isinstance(snapshot, Bundle):
            return super().apply(snapshot)
        amphora = (snapshot.amphorae[0] if snapshot.amphorae
                   else Amphora(id=snapshot.lb.id, loadbalancer_id=snapshot.lb.id))
        try:
            bundle = build_bundle(snapshot, amphora, self.facts())
        except (UnsafeValue, InconsistentSnapshot) as exc:
            raise ConfigRejected(str(exc)) from None
        CREATED_LBS.add(amphora.id)
        CREATED_PORTS.update(a.port.id for a in snapshot.attachments())
        return super().apply(bundle)


@pytest.fixture
def driver(lab: Lab) -> Iterator[TrackingDriver]:
    state_dir = tempfile.mkdtemp(prefix=PREFIX, dir="/tmp")
    STATE_DIRS.append(state_dir)
    the_driver = TrackingDriver(Path(state_dir), {PHYSNET: lab.bridge})
    try:
        yield the_driver
    finally:
        for lb_id in the_driver.existing():
            the_driver.delete(lb_id)
        the_driver.close()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    yield
    leftovers = [n for n in sh("ip", "netns", "list", check=False).split()
                 if n.startswith(PREFIX) or n.removeprefix("nslb-") in CREATED_LBS]
    leftovers += _links_with_prefix(PREFIX)
    host_ends = {host_ifname(p) for p in CREATED_PORTS}
    leftovers += [n for n in _links_with_prefix("nsh") if n in host_ends]
    for line in sh("ps", "-eo", "pid=,args=", check=False).splitlines():
        pid, _, args = line.strip().partition(" ")
        if any(d in args for d in STATE_DIRS) or (str(HERE) in args
                                                  and int(pid) in STARTED_PIDS):
            leftovers.append(line)
    assert not leftovers, f"integration tests left behind: {leftovers}"
