"""What the UDP integration tests share: a server on a lab whose bridge, namespaces and
physical network carry "udp" in their names (other helpers' tests run at the same time),
UDP echo members and UDP clients."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.integration.api_env import Api, per_test, serving
from tests.integration.conftest import HERE, PREFIX, Lab, sh

PHYSNET = "udpnet1"
_tags = itertools.count(1)


def udp_tag() -> str:
    """`<session prefix>udp<nn>`: no tag is a prefix of another (fixed width)."""
    return f"{PREFIX}udp{next(_tags):02x}"


@contextmanager
def udp_serving(extra_args: tuple[str, ...] = ()) -> Iterator[tuple[Api, Lab]]:
    """A module lab and a running `nslb serve` whose physnet `udpnet1` is the lab bridge
    (api_env.serving): whatever happens, LBs, server, lab and state dir are removed."""
    with serving(extra_args=extra_args, tag=udp_tag(), physnet=PHYSNET) as running:
        yield running


@contextmanager
def udp_hosts(api: Api, module_lab: Lab) -> Iterator[Lab]:
    """Hosts of one test on the module bridge; its LBs are deleted through the API after."""
    with per_test(api, module_lab, tag=udp_tag()) as lab:
        yield lab


def echo(lab: Lab, ns: str, name: str, port: int = 5353) -> subprocess.Popen[str]:
    """Start the UDP echo member in `ns` and wait until it listens."""
    return lab.ready(ns, "udp_echo.py", name, str(port))


def ask(ns: str, host: str, port: int, count: int, timeout: float = 1.0) -> list[str]:
    """`count` requests from `ns`, each from a new socket (a new flow)."""
    out = sh("ip", "netns", "exec", ns, sys.executable, str(HERE / "udp_probe.py"), "fresh",
             host, str(port), str(count), str(timeout), timeout=120)
    return list(json.loads(out))


class Session:
    """One UDP flow from a client namespace: every ask() is a datagram on the same socket."""

    def __init__(self, lab: Lab, ns: str, host: str, port: int, timeout: float = 1.0) -> None:
        self.proc = lab.track(subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "udp_probe.py"), "session",
             host, str(port), str(timeout)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True))

    def ask(self) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()


def udp_lb(subnet_id: str, members: list[dict[str, Any]], *, port: int = 53,
           pool: dict[str, Any] | None = None, monitor: dict[str, Any] | None = None,
           **lb: Any) -> dict[str, Any]:
    """A single-call create body: UDP :port -> UDP pool of `members` (port 5353)."""
    default_pool: dict[str, Any] = {
        "name": "udp", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"protocol_port": 5353, **m} for m in members], **(pool or {})}
    if monitor is not None:
        default_pool["healthmonitor"] = monitor
    return {"name": "udp", "vip_subnet_id": subnet_id, **lb,
            "listeners": [{"name": "udp", "protocol": "UDP", "protocol_port": port,
                           "default_pool": default_pool}]}


UDP_MONITOR = {"type": "UDP-CONNECT", "delay": 3, "timeout": 1, "max_retries": 1,
               "max_retries_down": 1}
