"""Two agent "hosts" and one controller on one machine, for host failover (issue 10).

Each host is a network namespace on the lab bridge (underlay 10.243.0.0/24) with its own
physnet bridge; the two physnet bridges are joined by the site's own veth, so the
physnet spans both hosts (no VXLAN). A client and a backend are plugged into host B's
bridge, so they outlive host A. The controller is `nslb serve --agents remote` with
heartbeats on, in the root namespace.

Agents must all render for one state dir path (rendered configs name it), so each agent
runs in a mount namespace of its own where its own directory is bind-mounted at that
path (`AGENT_DIR`, under a private tmpfs so the bind stays in that namespace), while
`/run/netns` stays shared: the amphorae' namespaces are visible to everyone. Used by
tests/integration/test_host_failover.py and bench/hostloss.py.
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

from tests.integration import agent_hosts
from tests.integration.agent_hosts import nslb
from tests.integration.api_env import Api, flat_subnet, http_lb
from tests.integration.conftest import STATE_DIRS, Lab, sh
from tests.launcher import free_port, nslb_env

CONTROLLER = "10.243.0.1"
HOSTS = {"a": "10.243.0.2", "b": "10.243.0.3"}
AGENT_PORT = 9443
DATA_CIDR = "10.242.1.0/24"
BACKEND = "10.242.1.11"
CLIENT = "10.242.1.50"
MOUNTS = Path("/tmp/nslb-hf-mnt")
AGENT_DIR = MOUNTS / "agent"
HEARTBEAT_TIMEOUT = 2


class SiteApi(Api):
    """`nslb serve --agents remote`: amphora directories are in the agents' state dirs."""

    agent_dirs: list[Path]

    def amphora_dir(self, lb_id: str) -> Path:
        return agent_hosts.amphora_dir(self.agent_dirs, lb_id)


class Host:
    """One agent host: its namespace (made again when it comes back), its state dir."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.address = HOSTS[name]
        self.dir = Path(tempfile.mkdtemp(prefix=f"{lab.tag}{name}", dir="/tmp"))
        STATE_DIRS.append(str(self.dir))
        self.ns = ""
        self.bridge = f"{lab.tag}{name}d"
        self.agent: subprocess.Popen[str] | None = None
        self.log = self.dir / "agent.log"
        self.incarnation = 0

    def up(self) -> None:
        """The host's namespace and physnet bridge (again, after it was lost)."""
        self.incarnation += 1
        self.ns = self.lab.host(f"{self.name}{self.incarnation}", [f"{self.address}/24"])
        self.in_ns("ip", "link", "add", self.bridge, "type", "bridge")
        self.in_ns("ip", "link", "set", self.bridge, "up")

    def in_ns(self, *args: str) -> str:
        return sh("ip", "netns", "exec", self.ns, *args)

    def wrapped(self, *command: str) -> list[str]:
        """`command` in the host's network namespace and the agent's mount namespace."""
        return ["nsenter", f"--net=/run/netns/{self.ns}", "unshare", "--mount",
                "--propagation", "unchanged", "sh", "-c",
                f'mount --bind {self.dir} {AGENT_DIR} && exec "$@"', "sh", *command]

    def join(self, api: Api, join_port: int) -> None:
        agent_hosts.join(api, self.wrapped, f"https://{CONTROLLER}:{join_port}",
                         f"{self.address}:{AGENT_PORT}", AGENT_DIR, f"hf-{self.name}")

    def run(self) -> None:
        self.agent = agent_hosts.run(self.lab, self.wrapped, self.log, AGENT_DIR,
                                     f"{self.address}:{AGENT_PORT}",
                                     "--physnet", f"physnet1:{self.bridge}")
        agent_hosts.wait_listening(self.agent, self.log, self.address, AGENT_PORT)

    def host_id(self) -> str:
        return str(json.loads((self.dir / "agent.json").read_text())["host_id"])

    def amphorae(self) -> set[str]:
        """Amphora directories in this agent's state dir."""
        amp = self.dir / "amp"
        return {p.name for p in amp.iterdir() if p.is_dir()} if amp.is_dir() else set()

    def lose(self) -> None:
        """kill -9 the agent and delete the host's namespace (its links go with it)."""
        assert self.agent is not None
        self.agent.kill()
        self.agent.wait(timeout=10)
        sh("ip", "netns", "del", self.ns)
        self.lab.namespaces.remove(self.ns)

    def leftovers(self) -> list[str]:
        """Amphorae still in this agent's state dir; removed here (after a failure)."""
        if not self.amphorae():
            return []
        script = ("from pathlib import Path; "
                  "from nslb.amphora.namespace import NamespaceDriver as D; "
                  f"d = D(Path({str(AGENT_DIR)!r}), {{'physnet1': {self.bridge!r}}}); "
                  "left = sorted(d.existing()); [d.delete(a) for a in left]; print(*left)")
        command = [sys.executable, "-c", script]
        wrapped = self.wrapped(*command) if self.ns in self.lab.namespaces else \
            ["unshare", "--mount", "--propagation", "unchanged", "sh", "-c",
             f'mount --bind {self.dir} {AGENT_DIR} && exec "$@"', "sh", *command]
        out = subprocess.run(wrapped, capture_output=True, text=True, timeout=60,
                             env=nslb_env())
        return out.stdout.split()


class Site:
    """The controller, hosts a and b, the physnet joined between them, client and backend."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.api: SiteApi | None = None
        self.hosts = {name: Host(lab, name) for name in HOSTS}
        self.links = 0
        MOUNTS.mkdir(exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "size=1m", "nslb-hf", str(MOUNTS))
        sh("mount", "--make-private", str(MOUNTS))
        AGENT_DIR.mkdir()
        # A bridge without a MAC of its own takes its ports' lowest one, so losing host a's
        # port could change the controller's MAC under host b's ARP cache (b unheard)
        sh("ip", "link", "set", lab.bridge, "address", "02:00:0a:f3:00:01")
        sh("ip", "addr", "add", f"{CONTROLLER}/24", "dev", lab.bridge)
        for host in self.hosts.values():
            host.up()
        self.join_physnet()

    def join_physnet(self) -> None:
        """A veth between host a's and host b's physnet bridges."""
        self.links += 1
        a, b = self.hosts["a"], self.hosts["b"]
        left, right = f"{self.lab.tag}x{self.links}", f"{self.lab.tag}y{self.links}"
        sh("ip", "link", "add", left, "type", "veth", "peer", "name", right)
        for host, end in ((a, left), (b, right)):
            sh("ip", "link", "set", end, "netns", host.ns)
            host.in_ns("ip", "link", "set", end, "master", host.bridge, "up")

    def plug(self, name: str, address: str) -> str:
        """A namespace on host b's physnet bridge."""
        b = self.hosts["b"]
        ns = self.lab.namespace(name)
        veth = f"{self.lab.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", b.ns)
        b.in_ns("ip", "link", "set", veth, "master", b.bridge, "up")
        for args in (("lo", "up"), ("eth0", "up")):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", *args)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0",
           "nodad")
        return ns

    def start(self) -> None:
        join_port, heartbeat_port = free_port(), free_port()
        self.api = SiteApi({"physnet1": self.hosts["b"].bridge}, (
            "--agents", "remote", "--amphora-driver", "noop",
            "--agent-listen", f"{CONTROLLER}:{join_port}",
            "--heartbeat-listen", f"{CONTROLLER}:{heartbeat_port}",
            "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT), "--failover-timeout", "1",
            "--log-level", "DEBUG"))
        self.api.agent_dirs = [h.dir for h in self.hosts.values()]
        self.api.start()
        for host in self.hosts.values():
            host.join(self.api, join_port)
            host.run()

    def single_lb(self) -> tuple[dict[str, Any], str, str]:
        """A SINGLE LB on host a serving the backend; (lb, client namespace, VIP url)."""
        assert self.api is not None
        backend = self.plug("be", f"{BACKEND}")
        client = self.plug("cl", f"{CLIENT}")
        self.lab.serve(backend, "hf-backend")
        subnet = flat_subnet(self.api, "physnet1", DATA_CIDR, "10.242.1.100", "10.242.1.120")
        # host b takes no new amphora while the LB is made, so it lands on host a
        b = self.hosts["b"].host_id()
        self.set_admin(b, "DRAINING")
        self.wait_admin(b, "DRAINED")
        lb = self.api.create_lb(http_lb(subnet, [{"address": BACKEND}]), timeout=90)
        self.set_admin(b, "ACTIVE")
        return lb, client, f"http://{lb['vip_address']}:80/"

    def set_admin(self, host_id: str, state: str) -> None:
        """`nslb host drain|undrain`."""
        assert self.api is not None
        verb = "drain" if state == "DRAINING" else "undrain"
        subprocess.run(nslb("host", verb, host_id, "--url", f"http://127.0.0.1:{self.api.port}",
                            "--state-dir", str(self.api.state_dir)),
                       check=True, capture_output=True, timeout=60, env=nslb_env())

    def hosts_view(self) -> dict[str, dict[str, Any]]:
        assert self.api is not None
        return {h["id"]: h for h in self.api.call("GET", "/v2/lbaas/hosts", 200)["hosts"]}

    def wait_admin(self, host_id: str, state: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.hosts_view()[host_id]["admin_state"] != state:
            assert time.monotonic() < deadline, self.hosts_view()
            time.sleep(0.2)

    # --- host loss ------------------------------------------------------------------------

    def serves(self, client: str, vip_url: str) -> bool:
        return self.lab.names(client, vip_url, 1) == ["hf-backend"]

    def lose_a(self, client: str, vip_url: str, timeout: float = 60) -> float:
        """kill -9 host a's agent and delete its namespace; seconds until the VIP answers
        again through host b's amphora (detection, failover and rebuild included)."""
        a, b = self.hosts["a"], self.hosts["b"]
        started = time.monotonic()
        a.lose()
        # the kernel tears a deleted namespace down asynchronously: wait until the lost
        # host no longer answers (or the replacement is already there)
        while self.serves(client, vip_url) and not b.amphorae():
            assert time.monotonic() - started < 20, "the lost host still serves"
        while not (b.amphorae() and self.serves(client, vip_url)):
            assert time.monotonic() - started < timeout, self.diagnose("no service again")
        return time.monotonic() - started

    def diagnose(self, what: str) -> str:
        assert self.api is not None
        lines = [line for line in self.api.log.read_text(errors="replace").splitlines()
                 if re.search(r"heartbeat|hoststate|remote|failover|placed|ERROR", line)]
        return (f"{what}\n--- controller:\n" + "\n".join(lines[-80:]) +
                f"\n--- agent b:\n{self.hosts['b'].log.read_text()[-3000:]}")

    def close(self) -> list[str]:
        problems: list[str] = []
        if self.api is not None:
            problems += self.api.delete_all()
            self.api.terminate()
            self.api.http.close()
            shutil.rmtree(self.api.state_dir, ignore_errors=True)
        for host in self.hosts.values():
            problems += [f"amphora {a} left on host {host.name}" for a in host.leftovers()]
            if host.agent is not None:
                self.lab.stop(host.agent)
        self.lab.cleanup()
        sh("umount", "-l", str(MOUNTS), check=False)
        for host in self.hosts.values():
            shutil.rmtree(host.dir, ignore_errors=True)
        return problems
