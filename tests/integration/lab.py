"""The integration tier's namespace lab and the session's registry of what tests create.

A `Lab` makes bridges, namespaces (each with eth0 on a bridge) and processes, and removes
them all in cleanup(). Everything is named with the session prefix PREFIX (or registered
here: LBs, ports, state directories, links, paths, pids), and conftest.py's session
finalizer asserts that none of it is left on the host. Kept apart from conftest.py so the
shared fixtures there can use api_env.py, which builds on this module.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

from nslb.netns.names import vlan_bridge_name

HERE = Path(__file__).parent
PREFIX = f"nt{secrets.token_hex(2)}"
PHYSNET = "physnet1"
HAPROXY = "/usr/sbin/haproxy"
CREATED_LBS: set[str] = set()
CREATED_PORTS: set[str] = set()
STATE_DIRS: list[str] = []
# Processes this session started from this directory (others may run these tests concurrently).
STARTED_PIDS: set[int] = set()
# Interfaces and files made for a test under names outside PREFIX (a demo's VLAN bridge, its
# state directory in /run): the leak check asserts each is gone.
CREATED_LINKS: set[str] = set()
CREATED_PATHS: set[str] = set()


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

    def segment(self, vlan: int, physnet_bridge: str | None = None) -> str:
        """The host-side L2 segment of `vlan` on `physnet_bridge` (default: the lab bridge),
        as nslb builds it on this kernel: with bridge VLAN filtering the physnet bridge
        itself (tagged per port), without it one bridge per segment, which test hosts join
        directly. Removed by cleanup(), and watched by the leak check."""
        name = vlan_bridge_name(physnet_bridge or self.bridge, vlan)
        if name not in sh("ip", "-o", "link"):
            sh("ip", "link", "add", name, "type", "bridge")
            sh("ip", "link", "set", name, "up")
        self.bridges.append(name)
        CREATED_LINKS.add(name)
        return name

    def namespace(self, name: str) -> str:
        """A namespace `<tag>-<name>` with nothing in it but lo (down)."""
        ns = f"{self.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        return ns

    def host(self, name: str, addresses: list[str], bridge: str | None = None) -> str:
        """A namespace `<tag>-<name>` with eth0 on `bridge` (default: the lab bridge)."""
        ns = self.namespace(name)
        veth = f"{self.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", bridge or self.bridge, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
        for address in addresses:
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", address, "dev", "eth0", "nodad")
        return ns

    def serve(self, ns: str, name: str, port: int = 8080, *extra: str) -> subprocess.Popen[str]:
        """Start the echo server in `ns` and wait until it is listening; `extra` are
        echo_server.py's (a certificate and key for HTTPS)."""
        return self.ready(ns, "echo_server.py", name, str(port), *extra)

    def ready(self, ns: str, script: str, *args: str) -> subprocess.Popen[str]:
        """Start one of this directory's helper scripts in `ns` and wait for its "ready"."""
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(HERE / script),
                                 *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
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


