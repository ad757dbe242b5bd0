"""A VXLAN network across two agent hosts, end to end through the API.

`nslb serve --agents remote` in the root namespace; two hosts, each a network namespace
on the underlay bridge (10.241.0.0/24, MTU 1460) running `nslb agent join` and `nslb
agent run --underlay-address`. Agents must share one state dir path (rendered configs
name it), so each runs in its own mount namespace where that path is its own directory
(and /sys is its network namespace's). A VXLAN network is created through the Neutron
API; two load balancers on it land one on each host. A client and a backend plugged into
host Y's segment of the network reach the LB whose amphora is on host X: the requests and
the health of the overlay come from nslb alone (the flood entries each host gets from
the controller through its agent). Everything is removed even on failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nslb.netns.vxlan import bridge_name, device_name
from tests.integration import agent_hosts
from tests.integration.api_env import lab_tag, url
from tests.integration.conftest import CREATED_LBS, PREFIX, STATE_DIRS, Lab, sh, wait_for
from tests.integration.test_agents_remote import RemoteApi, free_port

CONTROLLER = "10.241.0.254"
UNDERLAY = {"x1": "10.241.0.1", "x2": "10.241.0.2"}
UNDERLAY_MTU = 1460
AGENT_PORT = 9443
CIDR = "10.240.0.0/24"


class AgentHost:
    """One host: its namespace on the underlay, its agent in a mount namespace of its own."""

    def __init__(self, lab: Lab, name: str, shared_dir: Path) -> None:
        self.lab, self.name, self.address = lab, name, UNDERLAY[name]
        self.ns = lab.host(name, [f"{self.address}/24"])
        sh("ip", "link", "set", f"{lab.tag}{name}", "mtu", str(UNDERLAY_MTU))
        self.in_host("ip", "link", "set", "eth0", "mtu", str(UNDERLAY_MTU))
        self.shared_dir = shared_dir
        self.real_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}vx{name}", dir="/tmp"))
        STATE_DIRS.append(str(self.real_dir))
        self.log = self.real_dir / "agent.log"
        self.agent: subprocess.Popen[str] | None = None

    def in_host(self, *args: str, check: bool = True) -> str:
        return sh("ip", "netns", "exec", self.ns, *args, check=check)

    def command(self, *args: str) -> list[str]:
        """`args` in the host's network namespace, with the shared state dir path bound
        to this host's directory and /sys showing this namespace's links."""
        script = ('mount --bind "$1" "$2" && mount -t sysfs sysfs /sys && shift 2 && '
                  'exec "$@"')
        return ["nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount",
                "--propagation", "unchanged", "sh", "-c", script, "sh", str(self.real_dir),
                str(self.shared_dir), *args]

    def join_and_run(self, api: RemoteApi, join_port: int) -> None:
        agent_hosts.join(api, self.command, f"https://{CONTROLLER}:{join_port}",
                         f"{self.address}:{AGENT_PORT}", self.shared_dir, self.name)
        self.agent = agent_hosts.run(self.lab, self.command, self.log, self.shared_dir,
                                     f"{self.address}:{AGENT_PORT}",
                                     "--underlay-address", self.address)

    def wait_listening(self) -> None:
        def listening() -> bool:
            assert self.agent is not None and self.agent.poll() is None, self.log.read_text()
            out = self.in_host("ss", "-Htln", f"sport = :{AGENT_PORT}")
            return bool(out.strip())
        assert wait_for(listening, 30, 0.1), self.log.read_text()

    def leftovers(self) -> list[str]:
        """Amphorae still on the host after the API deleted everything; removed here."""
        script = ("from pathlib import Path; "
                  "from nslb.amphora.namespace import NamespaceDriver as D; "
                  f"d = D(Path({str(self.shared_dir)!r}), {{}}, "
                  f"underlay_address={self.address!r}); "
                  "left = sorted(d.existing()); [d.delete(a) for a in left]; print(*left)")
        out = subprocess.run(self.command(sys.executable, "-c", script),
                             capture_output=True, text=True, timeout=60)
        return out.stdout.split()

    def fdb(self, vni: int) -> str:
        return self.in_host("bridge", "fdb", "show", "dev", device_name(vni), check=False)

    def plug(self, name: str, address: str, vni: int, mtu: int) -> str:
        """A namespace on this host's segment of the VXLAN network."""
        ns = f"{self.lab.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.lab.namespaces.append(ns)
        veth = f"{self.lab.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", self.ns)
        self.in_host("ip", "link", "set", veth, "master", bridge_name(vni), "mtu", str(mtu),
                     "up")
        for args in (("lo", "up"), ("eth0", "mtu", str(mtu), "up")):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", *args)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", address, "dev", "eth0", "nodad")
        return ns


class VxApi(RemoteApi):
    """The controller; amphora directories are under the hosts' own state dirs."""

    hosts: list[AgentHost]

    def amphora_dir(self, lb_id: str) -> Path:
        for host in self.hosts:
            for path in sorted((host.real_dir / "amp").glob("*/haproxy.cfg")):
                first = path.read_text(errors="replace").split("\n", 1)[0].split()
                if first[4:5] == [lb_id]:
                    CREATED_LBS.add(path.parent.name)
                    return path.parent
        raise AssertionError(f"no amphora of load balancer {lb_id} on the hosts")


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[VxApi, list[AgentHost]]]:
    lab = Lab(tag=lab_tag())
    api: VxApi | None = None
    hosts: list[AgentHost] = []
    shared = Path(tempfile.mkdtemp(prefix=f"{PREFIX}vxsd", dir="/tmp"))
    STATE_DIRS.append(str(shared))
    problems: list[str] = []
    try:
        sh("ip", "link", "set", lab.bridge, "mtu", str(UNDERLAY_MTU))
        sh("ip", "addr", "add", f"{CONTROLLER}/24", "dev", lab.bridge)
        hosts = [AgentHost(lab, name, shared) for name in UNDERLAY]
        join_port = free_port()
        api = VxApi({}, ("--agents", "remote", "--amphora-driver", "noop",
                         "--agent-listen", f"{CONTROLLER}:{join_port}",
                         "--underlay-mtu", str(UNDERLAY_MTU)))
        api.hosts = hosts
        api.start()
        for host in hosts:
            host.join_and_run(api, join_port)
        for host in hosts:
            host.wait_listening()
        yield api, hosts
    finally:
        if api is not None:
            problems += api.delete_all()
            api.terminate()
            api.http.close()
            shutil.rmtree(api.state_dir, ignore_errors=True)
        for host in hosts:
            problems += [f"amphora {a} left on {host.name}" for a in host.leftovers()]
            if host.agent is not None:
                lab.stop(host.agent)
            shutil.rmtree(host.real_dir, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
        lab.cleanup()
    assert not problems, problems


def test_lbs_on_two_hosts_serve_across_the_vxlan_network(
        site: tuple[VxApi, list[AgentHost]]) -> None:
    api, hosts = site
    net = api.network("vx-net", **{"provider:network_type": "vxlan"})
    vni, mtu = net["provider:segmentation_id"], net["mtu"]
    assert (net["provider:physical_network"], mtu) == (None, UNDERLAY_MTU - 50)
    subnet = api.subnet(net["id"], CIDR, allocation_pools=[
        {"start": "10.240.0.100", "end": "10.240.0.120"}], gateway_ip=None)["id"]

    body = {"name": "vx", "vip_subnet_id": subnet, "listeners": [{
        "name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": "10.240.0.21", "protocol_port": 8080}]}}]}
    first = api.create_lb(body, timeout=60)
    second = api.create_lb({**body, "name": "vx2"}, timeout=60)
    # the agents' facts, read by the controller when it first rendered for them
    listed = {h["name"]: h for h in api.call("GET", "/v2/lbaas/hosts", 200)["hosts"]}
    assert {n: h["underlay_address"] for n, h in listed.items()} == UNDERLAY
    by_id = {h["id"]: next(x for x in hosts if x.name == h["name"]) for h in listed.values()}
    where = {}
    for lb in (first, second):
        (amp,) = api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}",
                          200)["amphorae"]
        where[lb["id"]] = by_id[amp["compute_id"]]
    x, y = where[first["id"]], where[second["id"]]
    assert x is not y  # one amphora on each host

    # each host floods the network to the other (x once the second LB, on y, was placed
    # and x's LB rendered again at its resync)
    assert wait_for(lambda: f"dst {y.address} self permanent" in x.fdb(vni), 40, 0.5), \
        x.fdb(vni)
    assert f"dst {x.address} self permanent" in y.fdb(vni)

    backend = y.plug("be", "10.240.0.21/24", vni, mtu)
    client = y.plug("cl", "10.240.0.50/24", vni, mtu)
    api_lab = x.lab
    api_lab.serve(backend, "vx-agent-backend")
    names = api_lab.names(client, url(first["vip_address"]), 4)
    assert names == ["vx-agent-backend"] * 4, names

    stats = json.loads(x.in_host("ip", "-j", "-s", "link", "show", device_name(vni)))[0]
    assert stats["stats64"]["rx"]["packets"] > 0 and stats["stats64"]["tx"]["packets"] > 0
    amphora_dir = api.amphora_dir(first["id"])
    inside = json.loads(sh("ip", "netns", "exec", f"nslb-{amphora_dir.name}", "ip", "-j",
                           "link"))
    assert {link["mtu"] for link in inside if link["ifname"] != "lo"} == {mtu}
