"""The data-plane bench environment shared by the namespace-driver benchmarks.

One lab bridge, HAProxy backends answering a static 200 in their own namespaces, a client
namespace (probe + wrk), and one `nslb serve --amphora-driver namespace` on that bridge.
Everything lives in 10.252.0.0/16 (bench only): nslb allocates VIPs from the bottom of the
subnet, the bench's own hosts sit at 10.252.255.x. All of it is removed at exit, also on
failure or Ctrl-C (lab() and nslb_serve() clean up in `finally`).
"""

from __future__ import annotations

import os
import signal
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
from nslb.amphora import runtime_api

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
    daemons: list[Path] = field(default_factory=list)

    def daemon(self, ns: str, name: str, config: str) -> Path:
        """Start a haproxy exactly as nslb's namespace driver does: master-worker, daemonised
        in its own session (hence its own scheduler autogroup); returns its pid file."""
        cfg, pidfile = self.workdir / f"{name}.cfg", self.workdir / f"{name}.pid"
        cfg.write_text(config)
        subprocess.run(["ip", "netns", "exec", ns, "haproxy", "-W", "-D", "-q",
                        "-S", f"{self.workdir}/{name}.sock,mode,600", "-p", str(pidfile),
                        "-f", str(cfg)], check=True, timeout=30, start_new_session=True,
                       capture_output=True)
        self.daemons.append(pidfile)
        return pidfile

    def stop_daemon(self, pidfile: Path) -> None:
        """SIGTERM the master (its workers follow it), then wait until they are gone."""
        stop_daemons([pidfile])
        self.daemons.remove(pidfile)

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

    def serving_ms(self, vip: str, port: int = 80, attempt: float = 1.0) -> float:
        """Poll http://vip:port/ from the client namespace until 200; ms, or raise after 30 s.
        Each attempt waits `attempt` seconds for its connection and answer."""
        assert self.probe.stdin is not None and self.probe.stdout is not None
        self.probe.stdin.write(f"{vip} {port} {attempt}\n".encode())
        self.probe.stdin.flush()
        ms = float(self.probe.stdout.readline() or -1)
        if ms < 0:
            raise RuntimeError(f"VIP {vip}:{port} never answered")
        return ms

    def delete_all(self, timeout: float = 180) -> None:
        """Cascade-delete every LB and wait until none is left (bounded). A DELETE answered
        409 (the LB is still PENDING_CREATE/UPDATE) is sent again on the next pass."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.api.get("/v2/lbaas/loadbalancers?limit=1000").json()["loadbalancers"]
            if not rows:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(rows)} load balancers were not deleted within "
                                   f"{timeout} s")
            for row in rows:
                if row["provisioning_status"] != "PENDING_DELETE":
                    self.api.delete(f"/v2/lbaas/loadbalancers/{row['id']}?cascade=true")
            time.sleep(0.5)

    def amphora_dir(self, lb_id: str) -> Path:
        """The directory of the LB's amphora (found by the LB id its config names)."""
        for path in (Path(self.state_dir) / "amp").glob("*/haproxy.cfg"):
            if path.read_text().startswith(f"# Configuration for loadbalancer {lb_id}\n"):
                return path.parent
        raise RuntimeError(f"no amphora config of load balancer {lb_id}")

    def amphora_dirs(self, lb_id: str) -> list[Path]:
        """Every amphora directory of the LB (two for an ACTIVE_STANDBY LB)."""
        return [path.parent for path in (Path(self.state_dir) / "amp").glob("*/haproxy.cfg")
                if path.read_text().startswith(
                    f"# Configuration for loadbalancer {lb_id}\n")]

    def haproxy_config(self, lb_id: str) -> str:
        return (self.amphora_dir(lb_id) / "haproxy.cfg").read_text()

    def haproxy_reloads(self, lb_id: str) -> int:
        """How often the LB's haproxy master has reloaded (its `show proc` line)."""
        answer = runtime_api.command(self.amphora_dir(lb_id) / "master.sock", "show proc")
        master = next(line for line in answer.splitlines() if " master " in f" {line} ")
        return int(master.split()[2])


def tree(subnet: str, members: list[str], hm: dict[str, Any] | None = None,
         port: int = 80, logging: bool = True) -> dict[str, Any]:
    """A fully populated LB: one HTTP listener, a ROUND_ROBIN pool, members, optional HM;
    the listener logs each request (nslb's and Octavia's default) unless `logging` is off."""
    pool: dict[str, Any] = {
        "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": [{"address": a, "protocol_port": BACKEND_PORT} for a in members]}
    if hm is not None:
        pool["healthmonitor"] = hm
    return {"loadbalancer": {
        "vip_subnet_id": subnet,
        "listeners": [{"protocol": "HTTP", "protocol_port": port,
                       "connection_logging": logging, "default_pool": {"name": "web"}}],
        "pools": [pool]}}


DEFAULT_HM = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}
FAST_HM = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}


@contextmanager
def environment(backends: int = 2, extra: tuple[str, ...] = ()) -> Iterator[Env]:
    """A lab, `nslb serve` (with `extra` arguments) on it, a subnet, backends, a client."""
    with lab() as lb, tempfile.TemporaryDirectory(prefix="nsb-work-") as work:
        client_ns = lb.host("cl", f"{CLIENT_IP}/{PREFIX}")
        probe = lb.python(client_ns, "bench.probe")
        with nslb_serve("namespace", f"physnet1:{lb.bridge}", extra) as (url, pid), \
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
                stop_daemons(env.daemons)
                with suppress(httpx.HTTPError, RuntimeError):  # nslb_serve purges the rest
                    env.delete_all(timeout=120)


def _pids_running(configs: set[bytes]) -> list[int]:
    """Processes (masters and workers) started with `-f` one of `configs`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError):
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                if configs & set(args):
                    found.append(int(entry))
    return found


def stop_daemons(pidfiles: list[Path]) -> None:
    for pidfile in pidfiles:
        with suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
    configs = {str(pidfile.with_suffix(".cfg")).encode() for pidfile in pidfiles}
    deadline = time.monotonic() + 5
    while _pids_running(configs) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in _pids_running(configs):
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def backend_ip(i: int) -> str:
    return f"{HOSTS}{101 + i}"


def _state_dir(pid: int) -> str:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return cmdline[cmdline.index("--state-dir") + 1]
