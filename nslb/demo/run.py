"""The demo flow: a bridge, two web servers and a client in namespaces, a load balancer
built through nslb's API, and real requests through the VIP.

Everything the demo makes is written to a small state file, so `--clean` removes exactly
that and nothing else, even after a failed run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from nslb.demo import hosts
from nslb.netns.bridges import BridgeRegistry

STATE = Path("/run/nslb-demo")
PROJECT = "demo"
CIDR, POOL = "10.213.0.0/24", ("10.213.0.10", "10.213.0.99")
BACKENDS = {"web1": "10.213.0.101", "web2": "10.213.0.102"}
CLIENT = ("client", "10.213.0.200")
Say = Callable[[str], None]


class DemoError(RuntimeError):
    """Something the user must fix (service not running, physnet not configured...)."""


@dataclass
class DemoState:
    url: str = ""
    clouds: str = ""
    network_id: str = ""
    subnet_id: str = ""
    lb_id: str = ""
    hosts: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)

    @classmethod
    def load(cls) -> DemoState:
        path = STATE / "state.json"
        return cls(**json.loads(path.read_text())) if path.exists() else cls()

    def save(self) -> None:
        STATE.mkdir(parents=True, exist_ok=True)
        tmp = STATE / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(STATE / "state.json")


class Api:
    """Just enough of an Octavia/Neutron client for the demo, with readable errors.

    With a clouds.yaml (nslb serve --auth keystone writes one) the demo logs in as the
    admin it names; without one it uses noauth's X-Project-Id header.
    """

    def __init__(self, url: str, clouds: Path | None = None) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=10,
                                 headers={"X-Project-Id": PROJECT})
        if clouds is not None and clouds.exists():
            self.http.headers["X-Auth-Token"] = self._login(clouds)

    def _login(self, clouds: Path) -> str:
        auth = yaml.safe_load(clouds.read_text())["clouds"]["nslb"]["auth"]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "password": auth["password"],
            "domain": {"name": auth.get("user_domain_name", "Default")}}}},
            "scope": {"project": {"name": auth["project_name"],
                                  "domain": {"name": auth.get("project_domain_name",
                                                              "Default")}}}}}
        try:
            r = self.http.post("/identity/v3/auth/tokens", json=body)
        except httpx.ConnectError:
            raise DemoError(f"cannot reach nslb at {self.http.base_url}: start it first "
                            "with `make run` (or `nslb serve`)") from None
        if r.status_code != 201:
            raise DemoError(f"logging in with {clouds} failed: {r.status_code} {r.text}")
        return r.headers["X-Subject-Token"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            r = self.http.request(method, path, json=body)
        except httpx.ConnectError:
            raise DemoError(f"cannot reach nslb at {self.http.base_url}: start it first "
                            "with `make run` (or `nslb serve`)") from None
        if r.status_code >= 400:
            raise DemoError(f"{method} {path} answered {r.status_code}: {r.text}")
        return r.json() if r.content else None


def _network(api: Api, state: DemoState, physnet: str, say: Say) -> None:
    found = api.call("GET", "/networking/v2.0/networks?name=nslb-demo")["networks"]
    if found:
        state.network_id = found[0]["id"]
        state.subnet_id = found[0]["subnets"][0] if found[0]["subnets"] else ""
    else:
        net = api.call("POST", "/networking/v2.0/networks", {"network": {
            "name": "nslb-demo", "provider:network_type": "flat",
            "provider:physical_network": physnet}})["network"]
        state.network_id = net["id"]
        say(f"created network nslb-demo (flat on {physnet})")
    state.save()
    if not state.subnet_id:
        sub = api.call("POST", "/networking/v2.0/subnets", {"subnet": {
            "name": "nslb-demo", "network_id": state.network_id, "ip_version": 4,
            "cidr": CIDR, "gateway_ip": None,
            "allocation_pools": [{"start": POOL[0], "end": POOL[1]}]}})["subnet"]
        state.subnet_id = sub["id"]
        say(f"created subnet {CIDR} (VIPs from {POOL[0]}-{POOL[1]})")
        state.save()


def _hosts(state: DemoState, bridge: str, say: Say) -> None:
    registry = BridgeRegistry(STATE / "bridges.json")
    for name, address in [*BACKENDS.items(), CLIENT]:
        if name not in state.hosts:
            state.hosts.append(name)
            state.save()
        hosts.add_host(name, f"{address}/24", bridge, registry)
    for pid in state.pids:  # web servers of an earlier run
        hosts.stop(pid)
    state.pids = []
    for name in BACKENDS:
        pid = hosts.start_backend(hosts.NAMESPACE.format(name), name, 80, STATE / "web.log")
        state.pids.append(pid)
    state.save()
    say(f"started web servers {', '.join(f'{n} ({a})' for n, a in BACKENDS.items())} "
        f"in namespaces on bridge {bridge}")


def _loadbalancer(api: Api, state: DemoState, say: Say) -> tuple[str, float]:
    members = [{"address": a, "protocol_port": 80, "name": n} for n, a in BACKENDS.items()]
    body = {"loadbalancer": {
        "name": "nslb-demo", "vip_subnet_id": state.subnet_id,
        "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": members,
                   "healthmonitor": {"type": "HTTP", "delay": 2, "timeout": 1,
                                     "max_retries": 1, "url_path": "/"}}]}}
    started = time.monotonic()
    lb = api.call("POST", "/v2/lbaas/loadbalancers", body)["loadbalancer"]
    state.lb_id = lb["id"]
    state.save()
    say(f"POST /v2/lbaas/loadbalancers -> {lb['id']} VIP {lb['vip_address']} "
        f"({lb['provisioning_status']})")
    return lb["vip_address"], started


def _wait_active(api: Api, lb_id: str, say: Say, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        status = api.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]
        if status["provisioning_status"] != last:
            last = status["provisioning_status"]
            say(f"  provisioning_status {last}")
        if last == "ACTIVE":
            return
        if last == "ERROR":
            raise DemoError("the load balancer went to ERROR: see the nslb serve log")
        time.sleep(0.05)
    raise DemoError(f"the load balancer is still {last} after {timeout:.0f} s")


def _requests(vip: str, started: float, count: int, say: Say) -> Counter[str]:
    client = hosts.NAMESPACE.format(CLIENT[0])
    first = None
    answered: Counter[str] = Counter()
    deadline = time.monotonic() + 20
    while sum(answered.values()) < count and time.monotonic() < deadline:
        r = hosts.run_in(client, "curl", "-s", "--max-time", "2", f"http://{vip}/")
        if r.returncode != 0:
            time.sleep(0.05)
            continue
        if first is None:
            first = time.monotonic() - started
            say(f"first answer through the VIP {first * 1000:.0f} ms after the POST")
        answered[r.stdout.strip()] += 1
        say(f"  curl http://{vip}/ -> {r.stdout.strip()}")
    if not answered:
        raise DemoError("no answer through the VIP within 20 s")
    return answered


def run(url: str, physnet: str, bridge: str, clouds: Path | None = None,
        say: Say = print) -> Counter[str]:
    """Build the demo (reusing what an earlier run left) and send requests through it."""
    state = DemoState.load()
    state.url = url
    state.clouds = str(clouds) if clouds else ""
    api = Api(url, clouds)
    api.call("GET", "/")
    _network(api, state, physnet, say)
    _hosts(state, bridge, say)
    if state.lb_id:
        say("removing the previous demo load balancer first")
        _delete_lb(api, state.lb_id)
    vip, started = _loadbalancer(api, state, say)
    _wait_active(api, state.lb_id, say)
    answered = _requests(vip, started, 6, say)
    say("answers: " + ", ".join(f"{k!r} x{v}" for k, v in sorted(answered.items())))
    say("clean up with: nslb demo --clean")
    return answered


def _delete_lb(api: Api, lb_id: str, timeout: float = 30) -> None:
    try:
        api.call("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    except DemoError as exc:
        if "404" not in str(exc):
            raise
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        if r.status_code == 404:
            return
        time.sleep(0.1)
    raise DemoError(f"load balancer {lb_id} was not deleted within {timeout:.0f} s")


def clean(say: Say = print) -> None:
    """Remove everything a demo run recorded, in reverse order of creation."""
    state = DemoState.load()
    api = Api(state.url, Path(state.clouds) if state.clouds else None) if state.url else None
    if api is not None and state.lb_id:
        _delete_lb(api, state.lb_id)
        say(f"deleted load balancer {state.lb_id}")
    for pid in state.pids:
        hosts.stop(pid)
    for name in state.hosts:
        hosts.remove_host(name)
    if state.hosts:
        say(f"removed namespaces {', '.join(hosts.NAMESPACE.format(h) for h in state.hosts)}")
    if api is not None and state.network_id:
        if state.subnet_id:
            api.http.delete(f"/networking/v2.0/subnets/{state.subnet_id}")
        api.http.delete(f"/networking/v2.0/networks/{state.network_id}")
        say("deleted network nslb-demo")
    removed = hosts.remove_bridges(BridgeRegistry(STATE / "bridges.json"))
    if removed:
        say(f"deleted bridges {', '.join(removed)}")
    for leftover in ("state.json", "bridges.json", "web.log"):
        (STATE / leftover).unlink(missing_ok=True)
    say("demo cleaned up")
