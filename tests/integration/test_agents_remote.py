"""A controller and an agent on two "hosts" of one machine, over mutual TLS.

The agent runs `nslb agent run` (the namespace driver: real haproxy) inside its own network
namespace, the host, which reaches the controller over a veth on the lab bridge
(10.234.0.0/24). The controller is `nslb serve --agents remote` on this machine's root
namespace, with no data plane of its own. A token from `nslb host token`, a join, then an
LB created through the API lands on the agent's host and serves HTTP from a client
namespace to backend namespaces, all plugged into the host's own physnet bridge.
Everything is removed even on failure (conftest's leak check).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nslb.pki import contexts
from nslb.pki.ca import (
    CONTROLLER,
    CertificateAuthority,
    key_pem,
    make_csr,
    new_key,
    write_private,
    write_public,
)
from tests.integration import agent_hosts
from tests.integration.agent_hosts import nslb
from tests.integration.api_env import Api, flat_subnet, http_lb, lab_tag, url
from tests.integration.conftest import STATE_DIRS, Lab, sh
from tests.launcher import free_port, nslb_env

UNDERLAY_CONTROLLER = "10.234.0.1"
UNDERLAY_HOST = "10.234.0.2"
AGENT_PORT = 9443
DATA_CIDR = "10.234.1.0/24"


class RemoteApi(Api):
    """`nslb serve --agents remote`: amphora directories are on the agent's host."""

    agent_dir: Path

    def amphora_dir(self, lb_id: str) -> Path:
        return agent_hosts.amphora_dir([self.agent_dir], lb_id)


class Site:
    """The lab: the agent's host namespace on the lab bridge, a physnet bridge inside the
    host, and the controller."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.host_ns = lab.host("h", [f"{UNDERLAY_HOST}/24"])
        sh("ip", "addr", "add", f"{UNDERLAY_CONTROLLER}/24", "dev", lab.bridge)
        self.data_bridge = f"{lab.tag}d"
        self.in_host("ip", "link", "add", self.data_bridge, "type", "bridge")
        self.in_host("ip", "link", "set", self.data_bridge, "up")
        self.agent_dir = Path(tempfile.mkdtemp(prefix=f"{lab.tag}a", dir="/tmp"))
        STATE_DIRS.append(str(self.agent_dir))
        self.agent: subprocess.Popen[str] | None = None
        self.agent_log = self.agent_dir / "agent.log"

    def in_host(self, *args: str, check: bool = True) -> str:
        return sh("ip", "netns", "exec", self.host_ns, *args, check=check)

    def on_host(self, *command: str) -> list[str]:
        """Run in the host's network namespace only (not `ip netns exec`, whose private
        mount namespace would hide the amphorae' namespaces from everyone else)."""
        return ["nsenter", f"--net=/run/netns/{self.host_ns}", *command]

    def plug(self, name: str, address: str) -> str:
        """A namespace on the host's physnet bridge (a backend or a client)."""
        ns = f"{self.lab.tag}-{name}"
        sh("ip", "netns", "add", ns)
        self.lab.namespaces.append(ns)
        veth = f"{self.lab.tag}{name}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "netns", self.host_ns)
        self.in_host("ip", "link", "set", veth, "master", self.data_bridge, "up")
        for args in (("lo", "up"), ("eth0", "up")):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", *args)
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", address, "dev", "eth0", "nodad")
        return ns

    def join_and_run(self, api: RemoteApi, join_port: int) -> str:
        joined = agent_hosts.join(api, self.on_host, f"https://{UNDERLAY_CONTROLLER}:{join_port}",
                                  f"{UNDERLAY_HOST}:{AGENT_PORT}", self.agent_dir, "ag-host-1")
        self.agent = agent_hosts.run(self.lab, self.on_host, self.agent_log, self.agent_dir,
                                     f"{UNDERLAY_HOST}:{AGENT_PORT}",
                                     "--physnet", f"physnet1:{self.data_bridge}")
        agent_hosts.wait_listening(self.agent, self.agent_log, UNDERLAY_HOST, AGENT_PORT)
        return joined

    def agent_dir_host_id(self) -> str:
        return str(json.loads((self.agent_dir / "agent.json").read_text())["host_id"])

    def leftovers(self) -> list[str]:
        """Amphorae still on the host after the API deleted everything; removed here."""
        script = ("import sys; from pathlib import Path; "
                  "from nslb.amphora.namespace import NamespaceDriver as D; "
                  f"d = D(Path({str(self.agent_dir)!r}), {{'physnet1': {self.data_bridge!r}}}); "
                  "left = sorted(d.existing()); [d.delete(a) for a in left]; print(*left)")
        out = subprocess.run(self.on_host(sys.executable, "-c", script), capture_output=True,
                             text=True, timeout=60)
        return out.stdout.split()


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, RemoteApi]]:
    lab = Lab(tag=lab_tag())
    api: RemoteApi | None = None
    site_: Site | None = None
    problems: list[str] = []
    try:
        site_ = Site(lab)
        join_port = free_port()
        api = RemoteApi({"physnet1": site_.data_bridge}, (
            "--agents", "remote", "--amphora-driver", "noop",
            "--agent-listen", f"{UNDERLAY_CONTROLLER}:{join_port}"))
        api.agent_dir = site_.agent_dir
        api.start()
        site_.join_and_run(api, join_port)
        yield site_, api
    finally:
        if api is not None:
            problems += api.delete_all()
            api.terminate()
            api.http.close()
            shutil.rmtree(api.state_dir, ignore_errors=True)
        if site_ is not None:
            problems += [f"amphora {a} left on the host" for a in site_.leftovers()]
            if site_.agent is not None:
                lab.stop(site_.agent)
            shutil.rmtree(site_.agent_dir, ignore_errors=True)
        lab.cleanup()
    assert not problems, problems


def test_an_lb_lands_on_the_agent_host_and_serves(site: tuple[Site, RemoteApi]) -> None:
    host, api = site
    lab = host.lab
    host_id = api.call("GET", "/v2/lbaas/hosts", 200)["hosts"][0]["id"]
    b1 = host.plug("b1", "10.234.1.11/24")
    b2 = host.plug("b2", "10.234.1.12/24")
    client = host.plug("cl", "10.234.1.50/24")
    lab.serve(b1, "ag-b1")
    lab.serve(b2, "ag-b2")
    subnet = flat_subnet(api, "physnet1", DATA_CIDR, "10.234.1.100", "10.234.1.120")

    lb = api.create_lb(http_lb(subnet, [{"address": "10.234.1.11"},
                                        {"address": "10.234.1.12"}]), timeout=60)

    amphorae = api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}",
                        200)["amphorae"]
    assert [a["compute_id"] for a in amphorae] == [host_id]
    listed = api.call("GET", "/v2/lbaas/hosts", 200)["hosts"]
    assert [(h["name"], h["state"], h["address"], h["amphora_count"]) for h in listed] == \
        [("ag-host-1", "UP", UNDERLAY_HOST, 1)]
    # the amphora's namespace is the agent's: its haproxy runs on the host, under the
    # agent's state dir, and the controller has no data plane of its own
    assert (host.agent_dir / "amp" / amphorae[0]["id"] / "haproxy.cfg").exists()
    assert not (api.state_dir / "amp").exists() or \
        not list((api.state_dir / "amp").iterdir())

    names = lab.names(client, url(lb["vip_address"]), 6)
    assert set(names) == {"ag-b1", "ag-b2"}, names

    api.delete_lb(lb["id"], timeout=60)
    assert not (host.agent_dir / "amp" / amphorae[0]["id"]).exists()
    assert api.call("GET", "/v2/lbaas/hosts", 200)["hosts"][0]["amphora_count"] == 0


def test_the_agent_process_takes_only_the_controller(site: tuple[Site, RemoteApi],
                                                     tmp_path: Path) -> None:
    """The real `nslb agent run` on its host address: the controller's certificate is
    served, no certificate and another CA's are refused at the handshake."""
    host, api = site
    pki = api.state_dir / "pki"
    facts = f"https://{UNDERLAY_HOST}:{AGENT_PORT}/v1/facts"
    ca = pki / "ca.pem"
    with httpx.Client(verify=contexts.client_context(ca, pki / "controller.pem",
                                                     pki / "controller.key")) as http:
        assert http.get(facts).json()["host"] == host.agent_dir_host_id()
    with httpx.Client(verify=contexts.client_context(ca)) as http, \
            pytest.raises(httpx.TransportError):
        http.get(facts)
    other = CertificateAuthority.load_or_create(tmp_path / "other")
    key = new_key()
    write_private(tmp_path / "forged.key", key_pem(key))
    write_public(tmp_path / "forged.pem", other.issue(
        make_csr(key, CONTROLLER), role=CONTROLLER, name=CONTROLLER, addresses=()).pem)
    with httpx.Client(verify=contexts.client_context(
            ca, tmp_path / "forged.pem", tmp_path / "forged.key")) as http, \
            pytest.raises(httpx.TransportError):
        http.get(facts)

    listed = subprocess.run(
        nslb("host", "list", "--url", f"http://127.0.0.1:{api.port}", "--state-dir",
             str(api.state_dir)), capture_output=True, text=True, check=True, timeout=60,
        env=nslb_env())
    assert "ag-host-1" in listed.stdout and " UP " in listed.stdout
