"""`nslb demo` on a real `nslb serve` (namespace driver): it shows both web servers answering
through the VIP, works when the README quickstart already put a flat network on the
physnet, and `--clean` removes what the demo made and nothing else; `nslb demo --udp`
serves UDP echo through a VIP.

The demo here is a site of its own (NSLB_DEMO_TAG, nslb/demo/site.py): its namespaces,
state and interfaces are named for this session, so a user's own demo on this host is
never touched (each test checks it), and everything it makes (namespaces, interfaces, its
VLAN bridge, its web servers, its state directory in /run) is registered with the
session's leak check (conftest.py). Any other NSLB_* of the caller is dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nslb.demo.run import CLIENT, NAME
from nslb.demo.site import DEFAULT_TAG, TAG_ENV, Site
from nslb.demo.udp import ECHOES, PORT, UDP_NAME
from nslb.netns.names import vlan_bridge_name
from tests.integration.api_env import NET, Api, serving
from tests.integration.conftest import (
    CREATED_LINKS,
    CREATED_PATHS,
    CREATED_PORTS,
    PREFIX,
    STATE_DIRS,
    Lab,
    sh,
)
from tests.launcher import nslb_env

NSLB = str(Path(sys.executable).with_name("nslb"))
SITE = Site(f"{PREFIX}demo")
HOSTS = ("web1", "web2", *ECHOES, CLIENT[0])
STATE_DIRS.append(SITE.tag)  # its web servers carry their namespace in their arguments
CREATED_PORTS.update(SITE.port_id(h) for h in HOSTS)
CREATED_PATHS.add(str(SITE.state))  # /run/nslb-demo-<tag>, which --clean removes


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Api, Lab]]:
    with serving() as (api, lab):
        yield api, lab


def users_demo() -> tuple[list[str], bytes | None]:
    """What a user's own demo has on this host: its namespaces and its state file."""
    default = Site(DEFAULT_TAG)
    spaces = [n for n in sh("ip", "netns", "list", check=False).split()
              if n.startswith(f"{DEFAULT_TAG}-")]
    path = default.state / "state.json"
    return spaces, path.read_bytes() if path.exists() else None


@pytest.fixture
def demo(server: tuple[Api, Lab]) -> Iterator[Any]:
    """Runs `nslb demo` (or `--clean`) as this test's site; cleans up whatever happens and
    checks that a user's own demo was left as it was."""
    api, lab = server
    before = users_demo()
    env = nslb_env(**{TAG_ENV: SITE.tag})

    def nslb_demo(*extra: str) -> subprocess.CompletedProcess[str]:
        args = [] if extra == ("--clean",) else ["--url", f"http://127.0.0.1:{api.port}",
                                                 "--physnet", "physnet1", "--bridge",
                                                 lab.bridge]
        run = subprocess.run([NSLB, "demo", *args, *extra], capture_output=True, text=True,
                             timeout=120, check=False, env=env)
        for name in (NAME, UDP_NAME):
            for lb in api.call("GET", f"/v2/lbaas/loadbalancers?name={name}", 200)[
                    "loadbalancers"]:
                api.amphora_dirs(lb["id"])  # its amphorae join the leak check
        api._remember_ports()
        return run

    try:
        yield nslb_demo
    finally:
        nslb_demo("--clean")
        assert users_demo() == before


def served(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stderr
    assert "Hello from web1" in run.stdout and "Hello from web2" in run.stdout
    assert "first answer through the VIP" in run.stdout


def left_behind(api: Api) -> list[str]:
    names = [n for n in sh("ip", "netns", "list", check=False).split()
             if n.startswith(f"{SITE.tag}-")]
    lbs = [lb for name in (NAME, UDP_NAME) for lb in
           api.call("GET", f"/v2/lbaas/loadbalancers?name={name}", 200)["loadbalancers"]]
    nets = api.call("GET", f"{NET}/networks?name={NAME}", 200)["networks"]
    return [*names, *(lb["id"] for lb in lbs), *(n["id"] for n in nets),
            *([str(SITE.state)] if SITE.state.exists() else [])]


def test_demo_serves_both_backends_runs_again_and_cleans_up(server: tuple[Api, Lab],
                                                            demo: Any) -> None:
    api, _ = server
    first = demo()
    served(first)
    assert f"created network {NAME} (flat on physnet1)" in first.stdout
    again = demo()  # a second run reuses the network and hosts, replaces the LB
    served(again)
    assert "created network" not in again.stdout
    assert "removing the previous demo load balancer" in again.stdout
    clean = demo("--clean")
    assert clean.returncode == 0, clean.stderr
    assert left_behind(api) == []


def echoed(client: str, vip: str, count: int) -> list[str]:
    """`count` datagrams from the client namespace through the VIP, each a new flow."""
    out = sh("ip", "netns", "exec", client, sys.executable, "-m", "nslb.demo.udp_echo",
             "send", vip, str(PORT), str(count), timeout=60)
    return list(json.loads(out))


def test_udp_demo_echoes_through_the_vip_from_both_members(server: tuple[Api, Lab],
                                                           demo: Any) -> None:
    """`nslb demo --udp` next to the HTTP demo: both echo servers answer datagrams sent to
    the VIP (the demo's own and the test's), and --clean removes both demos."""
    api, _ = server
    served(demo())
    run = demo("--udp")
    assert run.returncode == 0, run.stderr
    assert all(f"{name} echoes: hello" in run.stdout for name in ECHOES), run.stdout
    lb = api.call("GET", f"/v2/lbaas/loadbalancers?name={UDP_NAME}", 200)["loadbalancers"][0]
    listener = api.call("GET", f"/v2/lbaas/listeners?loadbalancer_id={lb['id']}",
                        200)["listeners"][0]
    assert (listener["protocol"], listener["protocol_port"]) == ("UDP", PORT)
    pool = api.call("GET", f"/v2/lbaas/pools/{listener['default_pool_id']}", 200)["pool"]
    monitor = api.call("GET", f"/v2/lbaas/healthmonitors/{pool['healthmonitor_id']}",
                       200)["healthmonitor"]
    assert (pool["protocol"], monitor["type"]) == ("UDP", "UDP-CONNECT")
    hint = f"socat -t1 - UDP:{lb['vip_address']}:{PORT}"
    assert hint in run.stdout
    answers = echoed(SITE.namespace(CLIENT[0]), lb["vip_address"], 8)
    assert {a.split(" ", 1)[0] for a in answers} == set(ECHOES), answers
    assert all(a.endswith(f"echoes: hello {n}") for n, a in enumerate(answers, start=1))
    again = demo("--udp")  # a second run replaces its own LB and leaves the HTTP demo
    assert again.returncode == 0, again.stderr
    assert "removing the previous UDP demo load balancer" in again.stdout
    assert "removing the previous demo load balancer" not in again.stdout
    assert len(api.call("GET", f"/v2/lbaas/loadbalancers?name={NAME}", 200)[
        "loadbalancers"]) == 1
    clean = demo("--clean")
    assert clean.returncode == 0, clean.stderr
    assert left_behind(api) == []


def test_demo_after_the_quickstart_uses_its_own_segment(server: tuple[Api, Lab],
                                                        demo: Any) -> None:
    """The README quickstart made a flat network on physnet1: the demo takes its own VLAN
    segment there, and --clean leaves the user's network and subnet alone."""
    api, lab = server
    lan = api.network("lan", **{"provider:network_type": "flat",
                                "provider:physical_network": "physnet1", "shared": True})
    lan_v4 = api.subnet(lan["id"], "192.0.2.0/24")
    try:
        run = demo()
        served(run)
        assert "physnet1 already has a flat network" in run.stdout
        net = api.call("GET", f"{NET}/networks?name={NAME}", 200)["networks"][0]
        assert net["provider:network_type"] == "vlan"
        CREATED_LINKS.add(vlan_bridge_name(lab.bridge, net["provider:segmentation_id"]))
        clean = demo("--clean")
        assert clean.returncode == 0, clean.stderr
        assert left_behind(api) == []
        assert api.call("GET", f"{NET}/networks/{lan['id']}", 200)["network"]["subnets"] == \
            [lan_v4["id"]]
        links = sh("ip", "-o", "link", "show")
        assert vlan_bridge_name(lab.bridge, net["provider:segmentation_id"]) not in links
    finally:
        api.call("DELETE", f"{NET}/subnets/{lan_v4['id']}", 204)
        api.call("DELETE", f"{NET}/networks/{lan['id']}", 204)


def test_crashed_haproxy_is_restarted_within_seconds(server: tuple[Api, Lab],
                                                     demo: Any) -> None:
    """kill -9 of an LB's haproxy: the health loop notices and the worker rebuilds it."""
    api, _ = server
    served(demo())
    lb = api.call("GET", f"/v2/lbaas/loadbalancers?name={NAME}", 200)["loadbalancers"][0]
    amphora = api.amphora_dir(lb["id"])
    before = set(sh("pgrep", "-f", f"haproxy.*{amphora}", check=False).split())
    assert before, "the LB's haproxy should be running"
    sh("kill", "-9", *before)
    deadline = time.monotonic() + 10
    answer = ""
    while time.monotonic() < deadline and not answer.startswith("Hello from web"):
        answer = sh("ip", "netns", "exec", SITE.namespace(CLIENT[0]), "curl", "-s",
                    "--max-time", "1", f"http://{lb['vip_address']}/", check=False)
        if not answer.startswith("Hello from web"):
            time.sleep(0.1)
    assert answer.startswith("Hello from web"), "the VIP did not serve again within 10 s"
    after = set(sh("pgrep", "-f", f"haproxy.*{amphora}", check=False).split())
    assert after and not after & before
