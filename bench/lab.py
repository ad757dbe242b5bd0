"""Benchmark lab: a bridge, backend namespaces and a client namespace, all removed at exit.

Addresses are private and exist only inside namespaces this module creates.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field


def sh(*args: str, check: bool = True) -> str:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


@dataclass
class Lab:
    tag: str = field(default_factory=lambda: f"nb{secrets.token_hex(2)}")
    bridge: str = ""
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def host(self, name: str, cidr: str) -> str:
        ns = f"{self.tag}-{name}"
        host_if, ns_if = f"{self.tag}{name[:4]}h", f"{self.tag}{name[:4]}n"
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "link", "set", host_if, "master", self.bridge, "up")
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", ns_if)
        sh("ip", "-n", ns, "link", "set", ns_if, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def spawn(self, ns: str, *argv: str, quiet: bool = False) -> subprocess.Popen[bytes]:
        """Start argv inside `ns`; `ip netns exec` execs it, so the pid is argv's own."""
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv],
                                stdin=subprocess.DEVNULL if quiet else subprocess.PIPE,
                                stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def python(self, ns: str, module: str, *args: str) -> subprocess.Popen[bytes]:
        return self.spawn(ns, sys.executable, "-m", module, *args)


@contextmanager
def lab(tag: str | None = None) -> Iterator[Lab]:
    """`tag` names everything the lab makes (default: nb<hex>)."""
    lb = Lab(tag=tag) if tag else Lab()
    lb.bridge = f"{lb.tag}br"
    sh("ip", "link", "add", lb.bridge, "type", "bridge")
    sh("ip", "link", "set", lb.bridge, "up")
    try:
        yield lb
    finally:
        for proc in lb.procs:
            if proc.poll() is None:
                proc.kill()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for ns in lb.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", lb.bridge, check=False)
