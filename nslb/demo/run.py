"""The demo flow: two web servers and a client in namespaces, a load balancer built through
nslb's API, and real requests through the VIP.

The demo works on whatever a user already made. Its network is its own: a flat network
on the physnet when there is none, else its own VLAN segment on that physnet (nslb picks
a free VLAN; the demo's hosts join it as access ports, as nslb plugs its own ports), so it
never adds to or depends on a network of the user's. A network named `nslb-demo` on the
physnet with the demo's subnet (an earlier demo whose state file was lost, /run being
cleared at boot) is taken back, with its leftover demo load balancers.

Everything the demo makes is written to a small state file, so `--clean` removes exactly
that and nothing else, even after a failed run. The state and every host-side name
belong to a site (nslb/demo/site.py): NSLB_DEMO_TAG gives a second demo its own.
"""

from __future__ import annotations

import dataclasses
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
from nslb.demo.site import BadTag, Site
from nslb.netns.bridges import BridgeRegistry

PROJECT = "demo"
NAME = "nslb-demo"
CIDR, POOL = "10.213.0.0/24", ("10.213.0.10", "10.213.0.99")
BACKENDS = {"web1": "10.213.0.101", "web2": "10.213.0.102"}
CLIENT = ("client", "10.213.0.200")
NET = "/networking/v2.0"
LBS = "/v2/lbaas/loadbalancers"
Say = Callable[[str], None]


class DemoError(RuntimeError):
    """Something the user must fix (service not running, physnet not configured...)."""


class ApiFailure(DemoError):
    """An API call answered an error; `status` and `body` say which."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {body}")
        self.status, self.body = status, body


@dataclass
class DemoState:
    url: str = ""
    clouds: str = ""
    network_id: str = ""
    subnet_id: str = ""
    lb_id: str = ""
    hosts: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    # `nslb demo --udp` (nslb/demo/udp.py): its load balancer and UDP echo servers
    udp_lb_id: str = ""
    udp_pids: list[int] = field(default_factory=list)

    @classmethod
    def load(cls, site: Site) -> DemoState:
        path = site.state / "state.json"
        if not path.exists():
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

    def save(self, site: Site) -> None:
        site.state.mkdir(parents=True, exist_ok=True)
        tmp = site.state / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(site.state / "state.json")


class Api:
    """Just enough of an Octavia/Neutron client for the demo, with readable errors.

    With a clouds.yaml (nslb serve --auth keystone writes one) the demo logs in as the
    admin it names; without one it uses noauth's X-Project-Id header.
    """

    def __init__(self, url: str, clouds: Path | None = None,
                 http: httpx.Client | None = None) -> None:
        self.http = http or httpx.Client(base_url=url.rstrip("/"), timeout=10,
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
            raise ApiFailure(method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def find(self, path: str, root: str) -> dict[str, Any] | None:
        """One object, or None when it is gone."""
        try:
            found: dict[str, Any] = self.call("GET", path)[root]
        except ApiFailure as exc:
            if exc.status == 404:
                return None
            raise
        return found


# --- the network --------------------------------------------------------------------------


def _recorded(api: Api, state: DemoState) -> dict[str, Any] | None:
    """The network this demo made, if it is still there."""
    if not state.network_id:
        return None
    net = api.find(f"{NET}/networks/{state.network_id}", "network")
    if net is None:
        state.network_id = state.subnet_id = ""
    elif state.subnet_id and api.find(f"{NET}/subnets/{state.subnet_id}", "subnet") is None:
        state.subnet_id = ""
    return net


def _taken_back(api: Api, state: DemoState, physnet: str) -> dict[str, Any] | None:
    """A demo network (named nslb-demo on this physnet, with the demo's subnet) that an
    earlier run made and whose state was lost."""
    for net in api.call("GET", f"{NET}/networks?name={NAME}")["networks"]:
        if net.get("provider:physical_network") != physnet:
            continue
        subnets = api.call("GET", f"{NET}/subnets?network_id={net['id']}&name={NAME}")
        mine = [s for s in subnets["subnets"] if s["cidr"] == CIDR]
        if mine:
            state.subnet_id = mine[0]["id"]
            return dict(net)
    return None


def _created(api: Api, physnet: str, say: Say) -> dict[str, Any]:
    """A flat network on the physnet, or the demo's own VLAN segment there when the
    physnet already carries a flat network (Neutron allows one)."""
    body = {"name": NAME, "provider:network_type": "flat",
            "provider:physical_network": physnet}
    try:
        net: dict[str, Any] = api.call("POST", f"{NET}/networks", {"network": body})["network"]
        say(f"created network {NAME} (flat on {physnet})")
        return net
    except ApiFailure as exc:
        if exc.status != 409 or "FlatNetworkInUse" not in exc.body:
            raise
    body["provider:network_type"] = "vlan"
    net = api.call("POST", f"{NET}/networks", {"network": body})["network"]
    say(f"{physnet} already has a flat network: created network {NAME} on its own segment "
        f"(VLAN {net.get('provider:segmentation_id')} on {physnet})")
    return net


def demo_network(api: Api, state: DemoState, site: Site, physnet: str,
             say: Say) -> dict[str, Any]:
    """The demo's network (and subnet), reused or made; returns the network."""
    net = (_recorded(api, state) or _taken_back(api, state, physnet)
           or _created(api, physnet, say))
    state.network_id = net["id"]
    state.save(site)
    if not state.subnet_id:
        sub = api.call("POST", f"{NET}/subnets", {"subnet": {
            "name": NAME, "network_id": state.network_id, "ip_version": 4,
            "cidr": CIDR, "gateway_ip": None,
            "allocation_pools": [{"start": POOL[0], "end": POOL[1]}]}})["subnet"]
        state.subnet_id = sub["id"]
        say(f"created subnet {CIDR} (VIPs from {POOL[0]}-{POOL[1]})")
        state.save(site)
    return net


def segment_of(net: dict[str, Any]) -> int | None:
    """The VLAN the demo's hosts join, None for a flat network."""
    if net.get("provider:network_type") != "vlan":
        return None
    vlan = net.get("provider:segmentation_id")
    if not isinstance(vlan, int):
        raise DemoError(f"network {NAME} is a VLAN network but its segment is not shown: "
                        "the demo needs an admin (noauth, or the clouds.yaml admin)")
    return vlan


# --- hosts, load balancer, requests --------------------------------------------------------


def _hosts(state: DemoState, site: Site, bridge: str, vlan: int | None, say: Say) -> None:
    registry = BridgeRegistry(site.state / "bridges.json")
    for name, address in [*BACKENDS.items(), CLIENT]:
        if name not in state.hosts:
            state.hosts.append(name)
            state.save(site)
        hosts.add_host(site, name, f"{address}/24", bridge, registry, vlan)
    for pid in state.pids:  # web servers of an earlier run
        hosts.stop(pid)
    state.pids = []
    for name in BACKENDS:
        pid = hosts.start_backend(site.namespace(name), name, 80, site.state / "web.log")
        state.pids.append(pid)
    state.save(site)
    for name in BACKENDS:
        if not hosts.wait_serving(site.namespace(name), 80):
            raise DemoError(f"web server {name} did not start: see {site.state / 'web.log'}")
    where = f"bridge {bridge}" + (f", VLAN {vlan}" if vlan is not None else "")
    say(f"started web servers {', '.join(f'{n} ({a})' for n, a in BACKENDS.items())} "
        f"in namespaces on {where}")


def _previous_lbs(api: Api, state: DemoState) -> list[str]:
    """Load balancers an earlier run left: the recorded one, and any demo LB on the demo's
    subnet (only the demo makes load balancers there)."""
    found = api.call("GET", f"{LBS}?name={NAME}&vip_subnet_id={state.subnet_id}")
    ids = [lb["id"] for lb in found["loadbalancers"]]
    if state.lb_id and state.lb_id not in ids:
        ids.insert(0, state.lb_id)
    return ids


def _loadbalancer(api: Api, state: DemoState, site: Site, say: Say) -> tuple[str, float]:
    members = [{"address": a, "protocol_port": 80, "name": n} for n, a in BACKENDS.items()]
    body = {"loadbalancer": {
        "name": NAME, "vip_subnet_id": state.subnet_id,
        "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": members,
                   "healthmonitor": {"type": "HTTP", "delay": 2, "timeout": 1,
                                     "max_retries": 1, "url_path": "/"}}]}}
    started = time.monotonic()
    lb = api.call("POST", LBS, body)["loadbalancer"]
    state.lb_id = lb["id"]
    state.save(site)
    say(f"POST {LBS} -> {lb['id']} VIP {lb['vip_address']} ({lb['provisioning_status']})")
    return lb["vip_address"], started


def _wait_active(api: Api, lb_id: str, say: Say, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        status = api.call("GET", f"{LBS}/{lb_id}")["loadbalancer"]
        if status["provisioning_status"] != last:
            last = status["provisioning_status"]
            say(f"  provisioning_status {last}")
        if last == "ACTIVE":
            return
        if last == "ERROR":
            raise DemoError("the load balancer went to ERROR: see the nslb serve log")
        time.sleep(0.05)
    raise DemoError(f"the load balancer is still {last} after {timeout:.0f} s")


def _requests(site: Site, vip: str, started: float, count: int, say: Say) -> Counter[str]:
    client = site.namespace(CLIENT[0])
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


def _site(site: Site | None) -> Site:
    try:
        return site or Site.from_env()
    except BadTag as exc:
        raise DemoError(str(exc)) from None


def begin(url: str, physnet: str, clouds: Path | None, say: Say,
          site: Site | None) -> tuple[Site, DemoState, Api, int | None]:
    """What both demos start with: the site, its saved state, the API (answering), and the
    demo network, reused or made; the network's VLAN segment last."""
    site = _site(site)
    state = DemoState.load(site)
    state.url = url
    state.clouds = str(clouds) if clouds else ""
    api = Api(url, clouds)
    api.call("GET", "/")
    net = demo_network(api, state, site, physnet, say)
    return site, state, api, segment_of(net)


def run(url: str, physnet: str, bridge: str, clouds: Path | None = None,
        say: Say = print, site: Site | None = None) -> Counter[str]:
    """Build the demo (reusing what an earlier run left) and send requests through it."""
    site, state, api, segment = begin(url, physnet, clouds, say, site)
    _hosts(state, site, bridge, segment, say)
    for lb_id in _previous_lbs(api, state):
        say(f"removing the previous demo load balancer {lb_id} first")
        _delete_lb(api, lb_id)
    vip, started = _loadbalancer(api, state, site, say)
    _wait_active(api, state.lb_id, say)
    answered = _requests(site, vip, started, 6, say)
    say("answers: " + ", ".join(f"{k!r} x{v}" for k, v in sorted(answered.items())))
    say("clean up with: nslb demo --clean")
    return answered


def _delete_lb(api: Api, lb_id: str, timeout: float = 30) -> None:
    try:
        api.call("DELETE", f"{LBS}/{lb_id}?cascade=true")
    except ApiFailure as exc:
        if exc.status != 404:
            raise
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.http.get(f"{LBS}/{lb_id}")
        if r.status_code == 404:
            return
        time.sleep(0.1)
    raise DemoError(f"load balancer {lb_id} was not deleted within {timeout:.0f} s")


def clean(say: Say = print, site: Site | None = None) -> None:
    """Remove everything a demo run recorded, in reverse order of creation."""
    site = _site(site)
    state = DemoState.load(site)
    api = Api(state.url, Path(state.clouds) if state.clouds else None) if state.url else None
    for lb_id in (state.lb_id, state.udp_lb_id):
        if api is not None and lb_id:
            _delete_lb(api, lb_id)
            say(f"deleted load balancer {lb_id}")
    for pid in [*state.pids, *state.udp_pids]:
        hosts.stop(pid)
    for name in state.hosts:
        hosts.remove_host(site, name)
    if state.hosts:
        say(f"removed namespaces {', '.join(site.namespace(h) for h in state.hosts)}")
    if api is not None and state.network_id:
        if state.subnet_id:
            api.http.delete(f"{NET}/subnets/{state.subnet_id}")
        api.http.delete(f"{NET}/networks/{state.network_id}")
        say(f"deleted network {NAME}")
    removed = hosts.remove_bridges(BridgeRegistry(site.state / "bridges.json"))
    if removed:
        say(f"deleted bridges {', '.join(removed)}")
    for leftover in ("state.json", "bridges.json", "web.log", "udp.log"):
        (site.state / leftover).unlink(missing_ok=True)
    if site.state.is_dir() and not any(site.state.iterdir()):
        site.state.rmdir()
    say("demo cleaned up")
