"""The data-plane bench environment shared by the namespace-driver benchmarks.

One lab bridge, HAProxy backends answering a static 200 in their own namespaces, a client
namespace (probe + wrk), and one `nslb serve --amphora-driver namespace` on that bridge.
Everything lives in 10.252.0.0/16 (bench only): nslb allocates VIPs from the bottom of the
subnet, the bench's own hosts sit at 10.252.255.x. All of it is removed at exit, also on
failure or Ctrl-C (lab() and nslb_serve() clean up in `finally`).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.lab import Lab, lab
from bench.server import client, make_network, nslb_serve

SUBNET = "10.252.0.0/16"
PREFIX = 16
HOSTS = "10.252.255."
CLIENT_IP = HOSTS + "200"
BACKEND_PORT = 8080
BACKEND_KIND = "haproxy 2.6 (same binary), `http-request return status 200` with a 2-byte body"

BACKEND_CFG = """global
    maxconn 5000
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend static
    bind {ip}:{port}
    http-request return status 200 content-type text/plain string ok
"""


@dataclass
class Env:
    lab: Lab
    api: httpx.Client
    url: str
    serve_pid: int
    state_dir: str
    subnet: str
    client_ns: str
    probe: subprocess.Popen[bytes]
    workdir: Path
    backends: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    backend_ns: dict[str, str] = field(default_factory=dict)

    def backend(self, ip: str) -> None:
        """(Re)start the static backend at `ip` (its namespace is made the first time)."""
        if ip not in self.backend_ns:
            self.backend_ns[ip] = self.lab.host(f"b{ip.rsplit('.', 1)[1]}", f"{ip}/{PREFIX}")
        cfg = self.workdir / f"backend-{ip}.cfg"
        cfg.write_text(BACKEND_CFG.format(ip=ip, port=BACKEND_PORT))
        self.backends[ip] = self.lab.spawn(self.backend_ns[ip], "haproxy", "-db", "-q",
                                           "-f", str(cfg), quiet=True)

    def kill_backend(self, ip: str) -> None:
        proc = self.backends.pop(ip)
        proc.kill()
        proc.wait(timeout=10)

    def serving_ms(self, vip: str, port: int = 80) -> float:
        """Poll http://vip:port/ from the client namespace until 200; ms, or raise after 30 s."""
        assert self.probe.stdin is not None and self.probe.stdout is not None
        self.probe.stdin.write(f"{vip} {port}\n".encode())
        self.probe.stdin.flush()
        ms = float(self.probe.stdout.readline() or -1)
        if ms < 0:
            raise RuntimeError(f"VIP {vip}:{port} never answered")
        return ms

    def delete_all(self, timeout: float = 180) -> None:
        """Cascade-delete every LB and wait until none is left (bounded)."""
        rows = self.api.get("/v2/lbaas/loadbalancers?limit=1000").json()["loadbalancers"]
        for row in rows:
            self.api.delete(f"/v2/lbaas/loadbalancers/{row['id']}?cascade=true")
        deadline = time.monotonic() + timeout
        while self.api.get("/v2/lbaas/loadbalancers?limit=1").json()["loadbalancers"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"load balancers were not deleted within {timeout} s")
            time.sleep(0.2)

    def haproxy_config(self, lb_id: str) -> str:
        return (Path(self.state_dir) / "lb" / lb_id / "haproxy.cfg").read_text()


def tree(subnet: str, members: list[str], hm: dict[str, Any] | None = None,
         port: int = 80) -> dict[str, Any]:
    """A fully populated LB: one HTTP listener, a ROUND_ROBIN pool, members, optional HM."""
    pool: dict[str, Any] = {
        "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": a, "protocol_port": BACKEND_PORT} for a in members]}
    if hm is not None:
        pool["healthmonitor"] = hm
    return {"loadbalancer": {
        "vip_subnet_id": subnet,
        "listeners": [{"protocol": "HTTP", "protocol_port": port,
                       "default_pool": {"name": "web"}}],
        "pools": [pool]}}


DEFAULT_HM = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}
FAST_HM = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}


@contextmanager
def environment(backends: int = 2) -> Iterator[Env]:
    with lab() as lb, tempfile.TemporaryDirectory(prefix="nsb-work-") as work:
        client_ns = lb.host("cl", f"{CLIENT_IP}/{PREFIX}")
        probe = lb.python(client_ns, "bench.probe")
        with nslb_serve("namespace", f"physnet1:{lb.bridge}") as (url, pid), \
                client(url) as api:
            subnet = make_network(api, "physnet1", SUBNET)
            env = Env(lab=lb, api=api, url=url, serve_pid=pid,
                      state_dir=_state_dir(pid), subnet=subnet, client_ns=client_ns,
                      probe=probe, workdir=Path(work))
            for i in range(backends):
                env.backend(backend_ip(i))
            time.sleep(0.3)  # let the backends bind
            try:
                yield env
            finally:
                with suppress(httpx.HTTPError, RuntimeError):  # nslb_serve purges the rest
                    env.delete_all(timeout=120)


def backend_ip(i: int) -> str:
    return f"{HOSTS}{101 + i}"


def _state_dir(pid: int) -> str:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return cmdline[cmdline.index("--state-dir") + 1]
