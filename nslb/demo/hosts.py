"""Demo hosts: namespaces with one address on the demo bridge, plugged with nslb.netns."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from nslb import netns
from nslb.demo.site import Site
from nslb.netns.bridges import BridgeRegistry, prune_bridges
from nslb.netns.namespaces import socket_in


def add_host(site: Site, name: str, address: str, bridge: str, registry: BridgeRegistry,
             vlan: int | None = None) -> str:
    """A namespace with one address on the demo network: on `bridge` untagged for a flat
    network, or as an access port of the VLAN segment, plugged the way nslb plugs ports."""
    namespace = site.namespace(name)
    netns.ensure_namespace(namespace)
    netns.plug(namespace, netns.PortPlan(port_id=site.port_id(name), bridge=bridge, mtu=1500,
                                         addresses=(address,), vlan=vlan), registry)
    return namespace


def start_backend(namespace: str, name: str, port: int, log: Path) -> int:
    """Run the demo web server inside the namespace, detached from this process. The
    namespace is its last argument, so `ps` shows which demo a web server belongs to."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "nslb.demo.backend",
             name, str(port), namespace],
            stdout=out, stderr=out, start_new_session=True)
    return proc.pid


def wait_serving(namespace: str, port: int, udp: bool = False, timeout: float = 10.0) -> bool:
    """True once the demo server in the namespace answers on 127.0.0.1:`port` (TCP: takes a
    connection; UDP: echoes a datagram); False after `timeout`. Why: the demo starts its
    servers, then a load balancer that serves a fraction of a second later, and a server
    still starting refuses the first requests (seen: all six answers from web2)."""
    deadline = time.monotonic() + timeout
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    while time.monotonic() < deadline:
        with socket_in(namespace, socket.AF_INET, kind) as sock:
            sock.settimeout(0.2)
            try:
                sock.connect(("127.0.0.1", port))
                if udp:
                    sock.send(b"ready?")
                    sock.recv(256)
                return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


def start_udp_echo(namespace: str, name: str, port: int, log: Path) -> int:
    """Run the UDP echo server (nslb.demo.udp_echo) inside the namespace, detached, with
    the namespace as its last argument like the web servers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "nslb.demo.udp_echo",
             "serve", name, str(port), namespace],
            stdout=out, stderr=out, start_new_session=True)
    return proc.pid


def run_in(namespace: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True,
                          text=True, timeout=timeout, check=False)


def stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)


def remove_host(site: Site, name: str) -> None:
    netns.delete_namespace(site.namespace(name))


def remove_bridges(registry: BridgeRegistry, wait: float = 5.0) -> list[str]:
    """Delete the bridges the demo created, once nothing is plugged into them.

    The kernel tears down a deleted namespace's veths asynchronously, so the bridge may
    still show their host ends for a moment: retry for up to `wait` seconds.
    """
    removed: list[str] = []
    deadline = time.monotonic() + wait
    while True:
        removed += prune_bridges(registry)
        if not registry.owned() or time.monotonic() >= deadline:
            return removed
        time.sleep(0.1)
