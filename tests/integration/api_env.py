"""A real `nslb serve --amphora-driver namespace` subprocess for API-level integration tests.

One server per test module (see `serving`), its physnets mapped to bridges of a module lab.
Every LB a test creates through `Api.create_lb` is registered with the session finalizer of
conftest.py and deleted with ?cascade=true when the test ends, when the module ends, and,
should the API not manage it, directly by a NamespaceDriver on the same state dir.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from nslb.amphora.namespace import NamespaceDriver
from tests.integration.lab import CREATED_LBS, CREATED_PORTS, PREFIX, STATE_DIRS, Lab
from tests.launcher import ServeProcess

PROJECT = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
LB = "/v2/lbaas/loadbalancers"
LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
NET = "/networking/v2.0"
_labs = 0


def lab_tag() -> str:
    """A lab tag no other lab tag starts with ('z' never occurs in conftest's hex tags)."""
    global _labs
    _labs += 1
    return f"{PREFIX}z{_labs:02x}"


class ApiError(AssertionError):
    pass


class Api(ServeProcess):
    """The nslb process (tests/launcher.py: started without NSLB_* in its environment) and a
    small Octavia/Neutron client for it."""

    def __init__(self, physnets: dict[str, str], extra_args: tuple[str, ...] = ()) -> None:
        self.physnets = physnets
        self.extra_args = extra_args
        super().__init__(Path(tempfile.mkdtemp(prefix="nsi-", dir="/tmp")))
        STATE_DIRS.append(str(self.state_dir))
        self.http = httpx.Client(base_url=self.url, timeout=15,
                                 headers={"X-Project-Id": PROJECT})
        self.lbs: list[str] = []

    # --- process --------------------------------------------------------------------------

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "nslb.cli.main", "serve", "--amphora-driver", "namespace",
                "--state-dir", str(self.state_dir), "--bind", f"127.0.0.1:{self.port}",
                "--auth", "noauth"]
        for name, bridge in self.physnets.items():
            args += ["--physnet", f"{name}:{bridge}"]
        return args + list(self.extra_args)

    def kill9(self) -> None:
        self.kill()

    def terminate(self) -> None:
        self.stop()

    # --- HTTP -----------------------------------------------------------------------------

    def call(self, method: str, url: str, expect: int | tuple[int, ...] = (200, 201, 202, 204),
             body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, url, json=body)
        codes = (expect,) if isinstance(expect, int) else expect
        if resp.status_code not in codes:
            raise ApiError(f"{method} {url} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def network(self, name: str, **provider: Any) -> dict[str, Any]:
        body = {"network": {"name": name, **provider}}
        return dict(self.call("POST", f"{NET}/networks", 201, body)["network"])

    def subnet(self, network_id: str, cidr: str, **attrs: Any) -> dict[str, Any]:
        body = {"subnet": {"network_id": network_id, "cidr": cidr,
                           "ip_version": 6 if ":" in cidr else 4, **attrs}}
        return dict(self.call("POST", f"{NET}/subnets", 201, body)["subnet"])

    def lb(self, lb_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"{LB}/{lb_id}", 200)["loadbalancer"])

    def create_lb(self, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        lb = self.call("POST", LB, 201, {"loadbalancer": body})["loadbalancer"]
        self.lbs.append(lb["id"])
        CREATED_LBS.add(lb["id"])
        self.wait_active(lb["id"], timeout)
        return self.lb(lb["id"])

    def wait_active(self, lb_id: str, timeout: float = 30) -> None:
        """Wait until the LB and all its children are ACTIVE again after a change."""
        deadline = time.monotonic() + timeout
        while True:
            lb = self.lb(lb_id)
            status = lb["provisioning_status"]
            if status == "ACTIVE" and self._children_active(lb_id):
                self._remember_ports()
                self.amphora_dir(lb_id)
                return
            if status == "ERROR":
                raise ApiError(f"load balancer {lb_id} went to ERROR:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise ApiError(f"load balancer {lb_id} still {status} after {timeout}s")
            time.sleep(0.03)

    def _children_active(self, lb_id: str) -> bool:
        tree = self.status(lb_id)
        for listener in tree["listeners"]:
            if listener["provisioning_status"] != "ACTIVE":
                return False
            for pool in listener["pools"]:
                if pool["provisioning_status"] != "ACTIVE":
                    return False
                if any(m["provisioning_status"] != "ACTIVE" for m in pool["members"]):
                    return False
        return True

    def _remember_ports(self) -> None:
        for port in self.call("GET", f"{NET}/ports", 200)["ports"]:
            CREATED_PORTS.add(port["id"])

    def amphora_dir(self, lb_id: str) -> Path:
        """The directory of the LB's (first) amphora on this host, found by the LB id its
        haproxy.cfg names; the amphora is remembered for the leak check."""
        for path in sorted((self.state_dir / "amp").glob("*/haproxy.cfg")):
            first = path.read_text(errors="replace").split("\n", 1)[0].split()
            if first[:4] == ["#", "Configuration", "for", "loadbalancer"] and first[4:5] == [lb_id]:
                CREATED_LBS.add(path.parent.name)
                return path.parent
        raise ApiError(f"no amphora of load balancer {lb_id} under {self.state_dir}/amp")

    def amphora_id(self, lb_id: str) -> str:
        return self.amphora_dir(lb_id).name

    def amphora_dirs(self, lb_id: str) -> list[Path]:
        """Every amphora directory of the LB on this host (two for an ACTIVE_STANDBY LB)."""
        found = []
        for path in sorted((self.state_dir / "amp").glob("*/haproxy.cfg")):
            first = path.read_text(errors="replace").split("\n", 1)[0].split()
            if first[4:5] == [lb_id]:
                CREATED_LBS.add(path.parent.name)
                found.append(path.parent)
        return found

    def status(self, lb_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"{LB}/{lb_id}/status", 200)["statuses"]["loadbalancer"])

    def members(self, lb_id: str) -> dict[str, dict[str, Any]]:
        """address -> member entry of the status tree (first listener's pool)."""
        pool = self.status(lb_id)["listeners"][0]["pools"][0]
        return {m["address"]: m for m in pool["members"]}

    def pool_id(self, lb_id: str) -> str:
        return str(self.status(lb_id)["listeners"][0]["pools"][0]["id"])

    def listener_id(self, lb_id: str) -> str:
        return str(self.status(lb_id)["listeners"][0]["id"])

    def change(self, lb_id: str, method: str, url: str, body: dict[str, Any] | None = None,
               timeout: float = 30) -> Any:
        """One API change of the LB's tree, then wait for ACTIVE."""
        answer = self.call(method, url, body=body)
        self.wait_active(lb_id, timeout)
        return answer

    def delete_lb(self, lb_id: str, timeout: float = 30) -> None:
        """Delete with cascade, waiting out a change still in progress (409)."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.http.delete(f"{LB}/{lb_id}?cascade=true")
            if resp.status_code in (204, 404):
                break
            if resp.status_code != 409 or time.monotonic() > deadline:
                raise ApiError(f"DELETE {LB}/{lb_id} -> {resp.status_code}: {resp.text}")
            time.sleep(0.2)
        while self.http.get(f"{LB}/{lb_id}").status_code != 404:
            if time.monotonic() > deadline:
                raise ApiError(f"load balancer {lb_id} not gone after {timeout}s:\n{self.tail()}")
            time.sleep(0.05)
        if lb_id in self.lbs:
            self.lbs.remove(lb_id)

    def delete_all(self) -> list[str]:
        """Delete every LB created here; returns the problems met (empty when all went)."""
        problems = []
        for lb_id in list(self.lbs):
            try:
                self.delete_lb(lb_id)
            except (ApiError, httpx.HTTPError) as exc:
                problems.append(f"{lb_id}: {exc}")
        return problems

    def close(self) -> list[str]:
        """Delete through the API, stop the server, then remove whatever is left directly."""
        problems: list[str] = []
        if self.running:
            problems += self.delete_all()
        self.stop()
        self.http.close()
        driver = NamespaceDriver(self.state_dir, self.physnets)
        for lb_id in driver.existing():
            problems.append(f"{lb_id}: still on the host after the API delete")
            driver.delete(lb_id)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return problems


def http_lb(subnet_id: str, members: list[dict[str, Any]], *, algorithm: str = "ROUND_ROBIN",
            listener: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
            monitor: dict[str, Any] | None = None, **lb: Any) -> dict[str, Any]:
    """A single-call create body: HTTP :80 -> pool of `members` (protocol_port 8080)."""
    default_pool: dict[str, Any] = {
        "name": "pool", "protocol": "HTTP", "lb_algorithm": algorithm,
        "members": [{"protocol_port": 8080, **m} for m in members], **(pool or {})}
    if monitor is not None:
        default_pool["healthmonitor"] = monitor
    return {"name": "it", "vip_subnet_id": subnet_id, **lb,
            "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                           "default_pool": default_pool, **(listener or {})}]}


FAST_MONITOR = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                "max_retries_down": 1, "url_path": "/"}


def url(address: str, path: str = "/") -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:80{path}"


@contextmanager
def serving(extra_bridges: tuple[str, ...] = (), extra_args: tuple[str, ...] = (),
            tag: str | None = None,
            physnet: str = "physnet1") -> Iterator[tuple[Api, Lab]]:
    """A module lab (bridge 'br' = `physnet`, then physnet2.. for `extra_bridges`) and a
    running server on it; `tag` names the lab (a module's own names). Whatever happens,
    LBs, server, lab and state dir are removed: a server a test left dead is started again
    first, so its LBs are deleted through the API."""
    lab = Lab(tag=tag or lab_tag())
    api: Api | None = None
    problems: list[str] = []
    started = False
    try:
        physnets = {physnet: lab.bridge}
        for i, suffix in enumerate(extra_bridges, start=2):
            physnets[f"physnet{i}"] = lab.add_bridge(suffix)
        api = Api(physnets, extra_args)
        api.start()
        started = True
        yield api, lab
    finally:
        try:
            if api is not None:
                problems = (_restarted(api) if started else []) + api.close()
        finally:
            lab.cleanup()
    assert not problems, problems


def _restarted(api: Api) -> list[str]:
    """Start a server that a test stopped or killed (and failed before starting it again)."""
    if api.running:
        return []
    try:
        api.start()
    except RuntimeError as exc:  # close() still removes the data plane directly
        return [f"restarting nslb serve for the cleanup: {exc}"]
    return []


@dataclass
class Served:
    """What most API modules share: the server, its module lab and one flat subnet."""

    api: Api
    lab: Lab
    subnet: str


@contextmanager
def served(cidr: str, first: str, last: str, *, physnet: str = "physnet1",
           **serving_args: Any) -> Iterator[Served]:
    """serving(), plus a flat network on `physnet` whose subnet `cidr` allocates
    first..last: the module `env` of most API tests (hosts come from conftest's `hosts`)."""
    with serving(physnet=physnet, **serving_args) as (api, lab):
        yield Served(api, lab, flat_subnet(api, physnet, cidr, first, last))


@contextmanager
def per_test(api: Api, module_lab: Lab, tag: str | None = None) -> Iterator[Lab]:
    """Hosts of one test on the module bridge; its LBs are deleted through the API after it."""
    lab = Lab(bridge=module_lab.bridge, tag=tag or lab_tag())
    try:
        yield lab
    finally:
        try:
            if not api.running:
                api.start()  # a test that killed the server failed before restarting it
            problems = api.delete_all()
        finally:
            lab.cleanup()
        assert not problems, problems


def flat_subnet(api: Api, physnet: str, cidr: str, first: str, last: str) -> str:
    """A flat network on `physnet` with one subnet whose allocation pool is first..last."""
    net = api.network(f"it-{physnet}", **{"provider:network_type": "flat",
                                          "provider:physical_network": physnet})
    return str(api.subnet(net["id"], cidr, allocation_pools=[{"start": first, "end": last}],
                          gateway_ip=None)["id"])
