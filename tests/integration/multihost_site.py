"""Three agent hosts and two controllers on one throwaway PostgreSQL, on one machine
(issues 10 and 11: the multi-host tier). Used by tests/integration/test_multihost.py.

- **Underlay** 10.244.0.0/24: the module lab's bridge; the controllers listen on
  10.244.0.254 (root namespace), hosts h1, h2, h3 are network namespaces at .1, .2, .3.
- **Hosts**: each runs `nslb agent join` then `nslb agent run --underlay-address` in its
  network namespace and in a mount namespace of its own, where the one state dir path all
  agents must use is bound to the host's own directory (and /sys shows its links), as
  tests/integration/test_vxlan_agents.py does. Each agent sends heartbeats to both
  controllers.
- **Controllers** a and b: `nslb serve --agents remote` on one PostgreSQL database
  (tests/functional/test_postgres.py's throwaway cluster) with heartbeats and a 2 s lease.
  b starts with a's CA, heartbeat key and keys (what an operator copies to a second
  controller), so the agents joined through a trust both.
- **Zones** through the APIs an operator uses: Nova aggregates give h1 and h2 the compute
  zone `edge`, h3 `work`; Octavia availability zones `edge`, `work` and `void` (whose
  compute zone has no host) point at them with `compute_zone` profiles.
- **Tenant network**: VXLAN, subnet 10.245.0.0/16 (VIPs from 10.245.1.0/24). h3 always
  carries the `anchor` LB (zone work), so it keeps the network's bridge and every host
  with an amphora on it floods to h3: the backend and the client are plugged into h3's
  segment, and survive losing or draining h1 or h2.

Everything is removed whatever happens (close()); conftest's leak check then looks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from nslb.netns.vxlan import bridge_name
from tests.functional.test_postgres import Cluster, throwaway_cluster
from tests.integration import agent_hosts
from tests.integration.agent_hosts import nslb
from tests.integration.api_env import Api, ApiError, url
from tests.integration.lab import PREFIX, STATE_DIRS, Lab, sh, wait_for
from tests.launcher import free_port, nslb_env

CONTROLLER = "10.244.0.254"
HOSTS = {"h1": "10.244.0.1", "h2": "10.244.0.2", "h3": "10.244.0.3"}
ZONES = {"edge": ("h1", "h2"), "work": ("h3",), "void": ()}
AGENT_PORT = 9443
CIDR = "10.245.0.0/16"
POOL = ("10.245.1.1", "10.245.1.250")
BACKEND, CLIENT = "10.245.0.21", "10.245.0.50"
BACKEND_NAME = "mh-backend"
# The tests' heartbeat timeout, with margin for a loaded 2-core CI machine (the spurious
# failovers first seen at 2 s were the bridge MAC, fixed in Site.open());
# bench/hostloss.py measures with 2 s.
HEARTBEAT_TIMEOUT = 4
LEASE_TTL = 2
AZ_API = "/v2/lbaas"
NOVA = "/compute/v2.1"
# what an operator copies from the first controller to the next (README, Many hosts)
SHARED_FILES = ("pki", "heartbeat.key", "fernet-keys", "secret-keys")


class Controller(Api):
    """`nslb serve --agents remote` on the shared database; amphora directories are in
    the agents' state dirs."""

    def __init__(self, name: str, db_url: str, options: tuple[str, ...],
                 hosts: list[Host]) -> None:
        super().__init__({}, options)
        self.name, self.db_url, self.hosts = name, db_url, hosts

    def command(self) -> list[str]:
        return [*super().command(), "--db", self.db_url, "--controller-id", self.name]

    def amphora_dir(self, lb_id: str) -> Path:
        return agent_hosts.amphora_dir([h.real_dir for h in self.hosts], lb_id)


class Host:
    """One agent host: its namespace on the underlay and its agent."""

    def __init__(self, lab: Lab, name: str, shared_dir: Path) -> None:
        self.lab, self.name, self.address = lab, name, HOSTS[name]
        self.shared_dir = shared_dir
        self.real_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}mh{name}", dir="/tmp"))
        STATE_DIRS.append(str(self.real_dir))
        self.log = self.real_dir / "agent.log"
        self.agent: subprocess.Popen[str] | None = None
        self.ns = ""
        self.incarnation = 0
        self.id = ""

    def up(self) -> None:
        """The host's namespace on the underlay (again, after it was lost)."""
        self.incarnation += 1
        self.ns = self.lab.host(f"{self.name}{self.incarnation}", [f"{self.address}/24"])

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

    def join(self, api: Controller, join_port: int) -> None:
        agent_hosts.join(api, self.command, f"https://{CONTROLLER}:{join_port}",
                         f"{self.address}:{AGENT_PORT}", self.shared_dir, self.name)
        self.id = str(json.loads((self.real_dir / "agent.json").read_text())["host_id"])

    def run(self, heartbeat_to: list[str]) -> None:
        beats = [x for target in heartbeat_to for x in ("--heartbeat-to", target)]
        self.agent = agent_hosts.run(self.lab, self.command, self.log, self.shared_dir,
                                     f"{self.address}:{AGENT_PORT}",
                                     "--underlay-address", self.address, *beats)

    def wait_listening(self) -> None:
        def listening() -> bool:
            assert self.agent is not None and self.agent.poll() is None, self.log.read_text()
            return bool(self.in_host("ss", "-Htln", f"sport = :{AGENT_PORT}").strip())
        assert wait_for(listening, 30, 0.1), self.log.read_text()

    def amphorae(self) -> set[str]:
        """Amphora directories in this agent's state dir."""
        amp = self.real_dir / "amp"
        return {p.name for p in amp.iterdir() if p.is_dir()} if amp.is_dir() else set()

    def lose(self) -> None:
        """The host dies: kill -9 its agent and every process of its amphorae, delete the
        amphorae' namespaces and the host's own (its links go with them)."""
        assert self.agent is not None
        self.agent.kill()
        self.agent.wait(timeout=10)
        for amphora_id in self.amphorae():
            namespace = f"nslb-{amphora_id}"
            for pid in sh("ip", "netns", "pids", namespace, check=False).split():
                with suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", namespace, check=False)
        sh("ip", "netns", "del", self.ns)
        self.lab.namespaces.remove(self.ns)

    def leftovers(self) -> list[str]:
        """Amphorae still in this host's state dir after everything was deleted through
        the API; removed here (with the host's namespace, or from the root one when the
        host was lost)."""
        if not self.amphorae():
            return []
        script = ("from pathlib import Path; "
                  "from nslb.amphora.namespace import NamespaceDriver as D; "
                  f"d = D(Path({str(self.shared_dir)!r}), {{}}, "
                  f"underlay_address={self.address!r}); "
                  "left = sorted(d.existing()); [d.delete(a) for a in left]; print(*left)")
        command = self.command(sys.executable, "-c", script)
        if self.ns not in self.lab.namespaces:  # lost: no network namespace to enter
            command = command[2:]
        out = subprocess.run(command, capture_output=True, text=True, timeout=60,
                             env=nslb_env())
        return out.stdout.split()


class Site:
    """The cluster, two controllers, three hosts, zones, the VXLAN network and the
    backend and client behind h3. Build with open(), remove with close()."""

    def __init__(self, heartbeat_timeout: float = HEARTBEAT_TIMEOUT) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.stack = ExitStack()
        self.lab = Lab(tag=f"{PREFIX}m")
        self.shared = Path(tempfile.mkdtemp(prefix=f"{PREFIX}mhsd", dir="/tmp"))
        STATE_DIRS.append(str(self.shared))
        self.hosts: dict[str, Host] = {}
        self.controllers: list[Controller] = []
        self.join_port = 0
        self.beats: list[str] = []
        self.subnet = ""
        self.vni = 0
        self.mtu = 0
        self.zones: dict[str, str] = {}
        self.anchor: dict[str, Any] = {}
        self.client = ""

    # --- building -------------------------------------------------------------------------

    def open(self) -> None:
        cluster: Cluster = self.stack.enter_context(throwaway_cluster())
        db_url = cluster.url(cluster.create_database())
        # A bridge without a MAC of its own takes its ports' lowest one: losing a host's
        # port could change the controllers' MAC under the other hosts' ARP caches, and
        # their heartbeats went unheard for seconds (spurious failovers of healthy hosts).
        sh("ip", "link", "set", self.lab.bridge, "address", "02:00:0a:f4:00:fe")
        sh("ip", "addr", "add", f"{CONTROLLER}/24", "dev", self.lab.bridge)
        self.hosts = {name: Host(self.lab, name, self.shared) for name in HOSTS}
        for host in self.hosts.values():
            host.up()
        self.join_port = free_port()
        self.beats = beats = [f"{CONTROLLER}:{free_port()}" for _ in "ab"]
        for name, beat in zip("ab", beats, strict=True):
            join = self.join_port if name == "a" else free_port()
            options = ("--agents", "remote", "--amphora-driver", "noop",
                       "--agent-listen", f"{CONTROLLER}:{join}",
                       "--heartbeat-listen", beat,
                       "--heartbeat-timeout", f"{self.heartbeat_timeout:g}",
                       "--failover-timeout", "1",
                       "--failover-threshold", "50", "--lease-ttl", str(LEASE_TTL),
                       "--log-level", "DEBUG")
            self.controllers.append(Controller(f"mh-{name}", db_url, options,
                                               list(self.hosts.values())))
        a, b = self.controllers
        a.start()
        for item in SHARED_FILES:
            source = a.state_dir / item
            if source.is_dir():
                shutil.copytree(source, b.state_dir / item)
            elif source.exists():
                shutil.copy2(source, b.state_dir / item)
        b.start()
        for host in self.hosts.values():
            host.join(a, self.join_port)
            host.run(beats)
        for host in self.hosts.values():
            host.wait_listening()
        for host in self.hosts.values():
            # heard by the controllers: placement takes only hosts that are UP
            self.wait_host(host, "state", "UP", timeout=30)
        self.zoned()
        self.network()

    def zoned(self) -> None:
        """Aggregates (Nova) and availability zones (Octavia), through controller a."""
        api = self.controllers[0]
        for zone, members in ZONES.items():
            agg = api.call("POST", f"{NOVA}/os-aggregates", 200, {"aggregate": {
                "name": f"agg-{zone}", "availability_zone": zone}})["aggregate"]
            for host in members:
                api.call("POST", f"{NOVA}/os-aggregates/{agg['id']}/action", 200,
                         {"add_host": {"host": host}})
            profile = api.call("POST", f"{AZ_API}/availabilityzoneprofiles", 201, {
                "availability_zone_profile": {
                    "name": f"p-{zone}", "provider_name": "amphora",
                    "availability_zone_data": json.dumps({"compute_zone": zone})}})
            api.call("POST", f"{AZ_API}/availabilityzones", 201, {"availability_zone": {
                "name": zone, "availability_zone_profile_id":
                    profile["availability_zone_profile"]["id"]}})
            self.zones[zone] = zone

    def network(self) -> None:
        """The VXLAN network, the anchor LB on h3, and backend and client behind h3."""
        api = self.controllers[1]  # b: the controllers share everything
        net = api.network("mh-net", **{"provider:network_type": "vxlan"})
        self.vni, self.mtu = net["provider:segmentation_id"], net["mtu"]
        self.subnet = api.subnet(net["id"], CIDR, gateway_ip=None, allocation_pools=[
            {"start": POOL[0], "end": POOL[1]}])["id"]
        self.anchor = self.create_lb("anchor", "work")
        h3 = self.hosts["h3"]
        backend = self.plug(h3, "be", BACKEND)
        self.client = self.plug(h3, "cl", CLIENT)
        self.lab.serve(backend, BACKEND_NAME)

    def plug(self, host: Host, name: str, address: str) -> str:
        """A namespace on `host`'s segment of the VXLAN network."""
        ns = self.lab.namespace(name)
        veth = f"{self.lab.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", host.ns)
        host.in_host("ip", "link", "set", veth, "master", bridge_name(self.vni), "mtu",
                     str(self.mtu), "up")
        for args in (("lo", "up"), ("eth0", "mtu", str(self.mtu), "up")):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", *args)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/16", "dev", "eth0",
           "nodad")
        return ns

    # --- load balancers ---------------------------------------------------------------------

    def lb_body(self, name: str, zone: str) -> dict[str, Any]:
        return {"name": name, "vip_subnet_id": self.subnet, "availability_zone": zone,
                "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                               "default_pool": {
                                   "name": "pool", "protocol": "HTTP",
                                   "lb_algorithm": "ROUND_ROBIN",
                                   "members": [{"address": BACKEND,
                                                "protocol_port": 8080}]}}]}

    def create_lb(self, name: str, zone: str, api: int = 0,
                  timeout: float = 90) -> dict[str, Any]:
        try:
            return self.controllers[api].create_lb(self.lb_body(name, zone), timeout=timeout)
        except ApiError as exc:
            raise ApiError(self.diagnose(str(exc).split("\n")[0])) from None

    def live(self) -> Controller:
        """A controller that runs."""
        return next(c for c in self.controllers if c.running)

    def amphorae(self, lb_id: str) -> list[dict[str, Any]]:
        return list(self.live().call(
            "GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}", 200)["amphorae"])

    def host_of(self, lb_id: str) -> Host | None:
        """The host of the LB's one live amphora (None while it is not placed yet)."""
        placed = [a["compute_id"] for a in self.amphorae(lb_id)
                  if a["status"] not in ("PENDING_DELETE", "DELETED")]
        assert len(placed) == 1, self.amphorae(lb_id)
        return next((h for h in self.hosts.values() if h.id == placed[0]), None)

    def names(self, lb: dict[str, Any], count: int) -> list[str]:
        return self.lab.names(self.client, url(lb["vip_address"]), count)

    def serves(self, lb: dict[str, Any]) -> bool:
        return self.names(lb, 1) == [BACKEND_NAME]

    def wait_serving(self, lb: dict[str, Any], timeout: float = 40) -> None:
        assert wait_for(lambda: self.serves(lb), timeout, 0.2), self.diagnose(
            f"LB {lb['id']} does not serve")

    # --- hosts ------------------------------------------------------------------------------

    def host_verb(self, verb: str, host: Host) -> None:
        """`nslb host drain|undrain <id>`, through a live controller."""
        api = self.live()
        subprocess.run(nslb("host", verb, host.id, "--url", f"http://127.0.0.1:{api.port}",
                            "--state-dir", str(api.state_dir)),
                       check=True, capture_output=True, timeout=60, env=nslb_env())

    def hosts_view(self) -> dict[str, dict[str, Any]]:
        return {h["id"]: h for h in self.live().call("GET", "/v2/lbaas/hosts", 200)["hosts"]}

    def wait_host(self, host: Host, key: str, value: str, timeout: float = 60) -> None:
        assert wait_for(lambda: self.hosts_view()[host.id][key] == value, timeout, 0.2), \
            (self.hosts_view()[host.id], self.diagnose(f"host {host.name} not {value}"))

    def diagnose(self, what: str) -> str:
        lines = [what]
        for c in self.controllers:
            text = c.log.read_text(errors="replace").splitlines() if c.log.exists() else []
            picked = [x for x in text if any(w in x for w in (
                "heartbeat", "hoststate", "failover", "placed", "ERROR", "WARNING"))]
            lines += [f"--- controller {c.name}:", *picked[-40:]]
        for h in self.hosts.values():
            if h.log.exists():
                lines += [f"--- agent {h.name}:", h.log.read_text(errors="replace")[-1500:]]
        return "\n".join(lines)

    # --- removing ---------------------------------------------------------------------------

    def close(self) -> list[str]:
        problems: list[str] = []
        try:
            problems += self._close_controllers()
            for host in self.hosts.values():
                if host.ns not in self.lab.namespaces and host.amphorae():
                    host.up()  # a lost host: a namespace again to remove its amphorae in
                problems += [f"amphora {a} left on {host.name}" for a in host.leftovers()]
                if host.agent is not None:
                    self.lab.stop(host.agent)
        finally:
            self.lab.cleanup()
            for host in self.hosts.values():
                shutil.rmtree(host.real_dir, ignore_errors=True)
            shutil.rmtree(self.shared, ignore_errors=True)
            self.stack.close()
        return problems

    def _close_controllers(self) -> list[str]:
        problems: list[str] = []
        live = [c for c in self.controllers if c.running]
        if not live and self.controllers:
            try:
                self.controllers[0].start()
                live = [self.controllers[0]]
            except RuntimeError as exc:
                problems.append(f"restarting a controller for the cleanup: {exc}")
        lbs = sorted({lb for c in self.controllers for lb in c.lbs})
        if live:
            for c in self.controllers:
                c.lbs = []
            live[0].lbs = lbs
            problems += live[0].delete_all()
        for c in self.controllers:
            c.terminate()
            c.http.close()
            shutil.rmtree(c.state_dir, ignore_errors=True)
        return problems


def wait_until(predicate: Any, what: str | Callable[[], str], timeout: float = 60,
               interval: float = 0.2) -> Any:
    """`predicate`'s first truthy value within `timeout`, else an AssertionError saying
    `what` (called then, when it is a function: a diagnosis of that moment)."""
    value = wait_for(predicate, timeout, interval)
    if not value:
        raise ApiError(f"not within {timeout} s: {what() if callable(what) else what}")
    return value
