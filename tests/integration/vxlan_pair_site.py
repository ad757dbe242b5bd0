"""An ACTIVE_STANDBY pair across two agent hosts over VXLAN, on one machine (issue 10).

Two "hosts", each a network namespace on the lab bridge, which is the underlay
(10.246.0.0/24, MTU 1460), each running `nslb agent run --underlay-address`; the
controller is `nslb serve --agents remote` with heartbeats, in the root namespace. Agents
must render for one state dir path, so each runs in a mount namespace of its own where
its directory is bind-mounted at that path (`AGENT_DIR`, under a private tmpfs so the
bind stays there; /sys is remounted to show the host namespace's links), while
/run/netns stays shared: the amphorae' namespaces are visible to everyone.

The VXLAN network (10.247.0.0/24) comes from the Neutron API; the pair's amphorae land one
on each host and nothing else joins the overlay through nslb. The client and the backend
are plugged into the segment of the host whose amphora does NOT hold the VIP, so they
outlive the loss of the holder's host: before it, every request crosses the overlay
twice (client -> VIP on the other host -> backend back here); after it, the survivor
serves them on its own host. Used by tests/integration/test_vxlan_pairs.py and
bench/hostloss.py (`--only pair`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nslb.netns.vxlan import bridge_name, device_name
from tests.integration import agent_hosts
from tests.integration.api_env import Api, http_lb, url
from tests.integration.conftest import CREATED_LBS, STATE_DIRS, Lab, sh, wait_for
from tests.launcher import free_port, nslb_env

CONTROLLER = "10.246.0.254"
HOSTS = {"p": "10.246.0.1", "q": "10.246.0.2"}
UNDERLAY_MTU = 1460
AGENT_PORT = 9443
CIDR = "10.247.0.0/24"
POOL = ("10.247.0.100", "10.247.0.120")
BACKEND = "10.247.0.21"
CLIENT = "10.247.0.50"
MOUNTS = Path("/tmp/nslb-vp-mnt")
AGENT_DIR = MOUNTS / "agent"
HEARTBEAT_TIMEOUT = 2
BACKEND_NAME = "vp-backend"


class PairApi(Api):
    """`nslb serve --agents remote`: amphora directories are in the agents' state dirs."""

    agent_dirs: list[Path]

    def amphora_dir(self, lb_id: str) -> Path:
        return agent_hosts.amphora_dir(self.agent_dirs, lb_id)


class Host:
    """One agent host: its namespace on the underlay, its own state dir."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab, self.name, self.address = lab, name, HOSTS[name]
        self.dir = Path(tempfile.mkdtemp(prefix=f"{lab.tag}{name}", dir="/tmp"))
        STATE_DIRS.append(str(self.dir))
        self.log = self.dir / "agent.log"
        self.agent: subprocess.Popen[str] | None = None
        self.lost = False
        self.ns = lab.host(name, [f"{self.address}/24"])
        sh("ip", "link", "set", f"{lab.tag}{name}", "mtu", str(UNDERLAY_MTU))
        self.in_ns("ip", "link", "set", "eth0", "mtu", str(UNDERLAY_MTU))

    def in_ns(self, *args: str, check: bool = True) -> str:
        return sh("ip", "netns", "exec", self.ns, *args, check=check)

    def wrapped(self, *command: str) -> list[str]:
        """`command` in the host's network namespace and the agent's mount namespace."""
        script = (f'mount --bind {self.dir} {AGENT_DIR} && mount -t sysfs sysfs /sys && '
                  'exec "$@"')
        return ["nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount",
                "--propagation", "unchanged", "sh", "-c", script, "sh", *command]

    def join_and_run(self, api: Api, join_port: int) -> None:
        agent_hosts.join(api, self.wrapped, f"https://{CONTROLLER}:{join_port}",
                         f"{self.address}:{AGENT_PORT}", AGENT_DIR, f"vp-{self.name}")
        self.agent = agent_hosts.run(self.lab, self.wrapped, self.log, AGENT_DIR,
                                     f"{self.address}:{AGENT_PORT}",
                                     "--underlay-address", self.address)
        agent_hosts.wait_listening(self.agent, self.log, self.address, AGENT_PORT)

    def host_id(self) -> str:
        return str(json.loads((self.dir / "agent.json").read_text())["host_id"])

    def amphorae(self) -> set[str]:
        amp = self.dir / "amp"
        return {p.name for p in amp.iterdir() if p.is_dir()} if amp.is_dir() else set()

    def fdb(self, vni: int) -> str:
        return self.in_ns("bridge", "fdb", "show", "dev", device_name(vni), check=False)

    def plug(self, name: str, address: str, vni: int, mtu: int) -> str:
        """A namespace on this host's segment of the VXLAN network."""
        ns = self.lab.namespace(name)
        veth = f"{self.lab.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", self.ns)
        self.in_ns("ip", "link", "set", veth, "master", bridge_name(vni), "mtu", str(mtu),
                   "up")
        for args in (("lo", "up"), ("eth0", "mtu", str(mtu), "up")):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", *args)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0",
           "nodad")
        return ns

    def lose(self) -> float:
        """kill -9 the agent and delete the host's namespace (its links, and so every
        amphora port on it, go with it); the wall-clock time the namespace went."""
        assert self.agent is not None
        self.agent.kill()
        self.agent.wait(timeout=10)
        at = time.time()
        sh("ip", "netns", "del", self.ns)
        self.lab.namespaces.remove(self.ns)
        self.lost = True
        return at

    def leftovers(self) -> list[str]:
        """Amphorae still in this agent's state dir, removed here, in the host namespace
        (made again, empty, when the host was lost: its VXLAN bridge was there)."""
        if not self.amphorae():
            return []
        if self.ns not in self.lab.namespaces:
            self.ns = self.lab.namespace(f"{self.name}x")
        script = ("from pathlib import Path; "
                  "from nslb.amphora.namespace import NamespaceDriver as D; "
                  f"d = D(Path({str(AGENT_DIR)!r}), {{}}, "
                  f"underlay_address={self.address!r}); "
                  "left = sorted(d.existing()); [d.delete(a) for a in left]; print(*left)")
        out = subprocess.run(self.wrapped(sys.executable, "-c", script), capture_output=True,
                             text=True, timeout=60, env=nslb_env())
        return out.stdout.split()


def holds(amphora_id: str, vip: str) -> bool:
    out = sh("ip", "netns", "exec", f"nslb-{amphora_id}", "ip", "-o", "addr", check=False)
    return f" {vip}/" in out


class PairSite:
    """The controller, hosts p and q, the VXLAN network and an ACTIVE_STANDBY LB on it."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.api: PairApi | None = None
        MOUNTS.mkdir(exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "size=1m", "nslb-vp", str(MOUNTS))
        sh("mount", "--make-private", str(MOUNTS))
        AGENT_DIR.mkdir()
        # the bridge keeps its own MAC when a host's port leaves it (see hostfail_site)
        sh("ip", "link", "set", lab.bridge, "address", "02:00:0a:f6:00:fe", "mtu",
           str(UNDERLAY_MTU))
        sh("ip", "addr", "add", f"{CONTROLLER}/24", "dev", lab.bridge)
        self.hosts = {name: Host(lab, name) for name in HOSTS}
        self.lb: dict[str, Any] = {}
        self.amphorae: list[dict[str, Any]] = []
        self.vni = self.mtu = 0
        self.client = ""

    def start(self) -> None:
        join_port, heartbeat_port = free_port(), free_port()
        self.api = PairApi({}, (
            "--agents", "remote", "--amphora-driver", "noop",
            "--agent-listen", f"{CONTROLLER}:{join_port}",
            "--heartbeat-listen", f"{CONTROLLER}:{heartbeat_port}",
            "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT), "--failover-timeout", "1",
            "--underlay-mtu", str(UNDERLAY_MTU), "--log-level", "DEBUG"))
        self.api.agent_dirs = [h.dir for h in self.hosts.values()]
        self.api.start()
        for host in self.hosts.values():
            host.join_and_run(self.api, join_port)
        self.wait_heard()

    def wait_heard(self, timeout: float = 60) -> None:
        """Until both hosts have been UP for longer than the heartbeat timeout: a host
        that joined is judged from its first heartbeats on, and an agent that starts
        slowly (a busy machine) is DOWN for a moment first, when no pair can be placed."""
        assert self.api is not None
        deadline = time.monotonic() + timeout
        since: float | None = None
        while time.monotonic() < deadline:
            listed = self.api.call("GET", "/v2/lbaas/hosts", 200)["hosts"]
            if len(listed) == len(HOSTS) and all(h["state"] == "UP" for h in listed):
                since = since or time.monotonic()
                if time.monotonic() - since > HEARTBEAT_TIMEOUT + 1:
                    return
            else:
                since = None
            time.sleep(0.2)
        raise AssertionError(f"the hosts are not heard from:\n{self.controller_log()}")

    def pair_lb(self) -> dict[str, Any]:
        """The VXLAN network and subnet, an ACTIVE_STANDBY flavor, and an LB with one
        listener and the backend as its member; waits until it is ACTIVE."""
        api = self.api
        assert api is not None
        net = api.network("vp-net", **{"provider:network_type": "vxlan"})
        self.vni, self.mtu = net["provider:segmentation_id"], net["mtu"]
        subnet = api.subnet(net["id"], CIDR, gateway_ip=None,
                            allocation_pools=[{"start": POOL[0], "end": POOL[1]}])["id"]
        profile = api.call("POST", "/v2/lbaas/flavorprofiles", 201, {"flavorprofile": {
            "name": "vp-pair", "provider_name": "amphora",
            "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}})["flavorprofile"]
        flavor = api.call("POST", "/v2/lbaas/flavors", 201, {"flavor": {
            "name": "vp-pair", "flavor_profile_id": profile["id"]}})["flavor"]
        self.lb = api.create_lb(http_lb(subnet, [{"address": BACKEND}],
                                        flavor_id=flavor["id"]), timeout=120)
        self.amphorae = api.call("GET", "/v2/octavia/amphorae?loadbalancer_id="
                                 f"{self.lb['id']}", 200)["amphorae"]
        CREATED_LBS.update(a["id"] for a in self.amphorae)
        return self.lb

    @property
    def vip(self) -> str:
        return str(self.lb["vip_address"])

    @property
    def vip_url(self) -> str:
        return url(self.vip)

    def holders(self) -> list[dict[str, Any]]:
        return [a for a in self.amphorae if holds(a["id"], self.vip)]

    def host_of(self, amphora: dict[str, Any]) -> Host:
        return next(h for h in self.hosts.values() if h.host_id() == amphora["compute_id"])

    def settle(self, timeout: float = 30) -> dict[str, Any]:
        """Until exactly one amphora holds the VIP; that one."""
        assert wait_for(lambda: len(self.holders()) == 1, timeout, 0.1), self.state()
        return self.holders()[0]

    def plug_on(self, host: Host) -> str:
        """Client and backend on `host`'s segment; the client's namespace."""
        backend = host.plug("be", BACKEND, self.vni, self.mtu)
        self.client = host.plug("cl", CLIENT, self.vni, self.mtu)
        self.lab.serve(backend, BACKEND_NAME)
        return self.client

    def serves(self, count: int = 1) -> bool:
        return self.lab.names(self.client, self.vip_url, count) == [BACKEND_NAME] * count

    def vrrp_changed(self, amphora: dict[str, Any]) -> float:
        """When keepalived last recorded a transition of the amphora (its notify script
        writes vrrp.state): the file's mtime, wall clock."""
        return (self.host_of(amphora).dir / "amp" / amphora["id"] / "vrrp.state").stat() \
            .st_mtime

    def vrrp_state(self, amphora: dict[str, Any]) -> str:
        path = self.host_of(amphora).dir / "amp" / amphora["id"] / "vrrp.state"
        return path.read_text().strip() if path.exists() else ""

    def state(self) -> str:
        """The hosts' fdb entries and the amphorae' addresses and neighbours, for a
        failure message."""
        out = [f"--- {h.name} fdb:\n{h.fdb(self.vni)}" for h in self.hosts.values()
               if h.ns in self.lab.namespaces]
        for amp in self.amphorae:
            for what in ("addr", "neigh"):
                out.append(sh("ip", "netns", "exec", f"nslb-{amp['id']}", "ip", "-o", what,
                              check=False))
        return "\n".join(out)

    def controller_log(self, pattern: str = r"placed|failover|No valid host|ERROR") -> str:
        assert self.api is not None
        return "\n".join(line for line in self.api.log.read_text(errors="replace")
                         .splitlines() if re.search(pattern, line))

    def close(self) -> list[str]:
        problems: list[str] = []
        if self.api is not None:
            problems += self.api.delete_all()
            self.api.terminate()
            self.api.http.close()
            shutil.rmtree(self.api.state_dir, ignore_errors=True)
        for host in self.hosts.values():
            if host.agent is not None:
                self.lab.stop(host.agent)
            left = host.leftovers()
            if not host.lost:  # a lost host's amphora waits for its return: expected
                problems += [f"amphora {a} left on host {host.name}" for a in left]
        self.lab.cleanup()
        sh("umount", "-l", str(MOUNTS), check=False)
        for host in self.hosts.values():
            shutil.rmtree(host.dir, ignore_errors=True)
        return problems
