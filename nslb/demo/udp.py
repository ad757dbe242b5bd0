"""`nslb demo --udp`: a UDP echo service behind a VIP. Two UDP echo servers in namespaces
of their own, a UDP listener, a UDP pool and a UDP-CONNECT monitor built through the API,
and datagrams from the demo's client namespace through the VIP (each from a new socket, so
the kernel's round robin places each one anew).

It shares the demo's network, client and state file with the HTTP demo (nslb/demo/run.py),
so `nslb demo --clean` removes both and nothing else.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from nslb.demo import hosts
from nslb.demo.run import (
    CLIENT,
    LBS,
    Api,
    DemoError,
    DemoState,
    Say,
    _delete_lb,
    _wait_active,
    begin,
)
from nslb.demo.site import Site
from nslb.netns.bridges import BridgeRegistry

UDP_NAME = "nslb-demo-udp"
ECHOES = {"echo1": "10.213.0.111", "echo2": "10.213.0.112"}
PORT = 7  # the echo service's port
MONITOR = {"type": "UDP-CONNECT", "delay": 3, "timeout": 2, "max_retries": 2,
           "max_retries_down": 2}


def _echo_hosts(state: DemoState, site: Site, bridge: str, vlan: int | None,
                say: Say) -> None:
    registry = BridgeRegistry(site.state / "bridges.json")
    for name, address in [*ECHOES.items(), CLIENT]:
        if name not in state.hosts:
            state.hosts.append(name)
            state.save(site)
        hosts.add_host(site, name, f"{address}/24", bridge, registry, vlan)
    for pid in state.udp_pids:  # echo servers of an earlier run
        hosts.stop(pid)
    state.udp_pids = [hosts.start_udp_echo(site.namespace(name), name, PORT,
                                           site.state / "udp.log") for name in ECHOES]
    state.save(site)
    for name in ECHOES:
        if not hosts.wait_serving(site.namespace(name), PORT, udp=True):
            raise DemoError(f"UDP echo server {name} did not start: see "
                            f"{site.state / 'udp.log'}")
    say(f"started UDP echo servers {', '.join(f'{n} ({a})' for n, a in ECHOES.items())} "
        f"on port {PORT} in namespaces")


def _previous_lbs(api: Api, state: DemoState) -> list[str]:
    found = api.call("GET", f"{LBS}?name={UDP_NAME}&vip_subnet_id={state.subnet_id}")
    ids = [lb["id"] for lb in found["loadbalancers"]]
    if state.udp_lb_id and state.udp_lb_id not in ids:
        ids.insert(0, state.udp_lb_id)
    return ids


def _loadbalancer(api: Api, state: DemoState, site: Site, say: Say) -> tuple[str, float]:
    members = [{"address": a, "protocol_port": PORT, "name": n} for n, a in ECHOES.items()]
    body = {"loadbalancer": {
        "name": UDP_NAME, "vip_subnet_id": state.subnet_id,
        "listeners": [{"name": "echo", "protocol": "UDP", "protocol_port": PORT,
                       "default_pool": {"name": "echo"}}],
        "pools": [{"name": "echo", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                   "members": members, "healthmonitor": MONITOR}]}}
    started = time.monotonic()
    lb = api.call("POST", LBS, body)["loadbalancer"]
    state.udp_lb_id = lb["id"]
    state.save(site)
    say(f"POST {LBS} (UDP listener :{PORT}, UDP pool, UDP-CONNECT monitor) -> {lb['id']} "
        f"VIP {lb['vip_address']} ({lb['provisioning_status']})")
    return lb["vip_address"], started


def _datagrams(site: Site, vip: str, started: float, count: int, say: Say) -> Counter[str]:
    """Datagrams from the client through the VIP until `count` were answered; the answers
    by echo server."""
    client = site.namespace(CLIENT[0])
    answered: Counter[str] = Counter()
    first = None
    deadline = time.monotonic() + 20
    while sum(answered.values()) < count and time.monotonic() < deadline:
        r = hosts.run_in(client, sys.executable, "-m", "nslb.demo.udp_echo", "send", vip,
                         str(PORT), "2")
        answers = [a for a in json.loads(r.stdout or "[]") if a] if r.returncode == 0 else []
        if not answers:
            time.sleep(0.05)
            continue
        if first is None:
            first = time.monotonic() - started
            say(f"first answer through the VIP {first * 1000:.0f} ms after the POST")
        for answer in answers:
            answered[answer.split(" ", 1)[0]] += 1
            say(f"  datagram to {vip}:{PORT} -> {answer!r}")
    if not answered:
        raise DemoError("no answer through the VIP within 20 s")
    return answered


def run(url: str, physnet: str, bridge: str, clouds: Path | None = None,
        say: Say = print, site: Site | None = None) -> Counter[str]:
    """Build the UDP demo (reusing what an earlier run left) and send datagrams through it."""
    site, state, api, segment = begin(url, physnet, clouds, say, site)
    _echo_hosts(state, site, bridge, segment, say)
    for lb_id in _previous_lbs(api, state):
        say(f"removing the previous UDP demo load balancer {lb_id} first")
        _delete_lb(api, lb_id)
    vip, started = _loadbalancer(api, state, site, say)
    _wait_active(api, state.udp_lb_id, say)
    answered = _datagrams(site, vip, started, 6, say)
    say("answers: " + ", ".join(f"{k} x{v}" for k, v in sorted(answered.items())))
    say("send a datagram yourself:")
    say(f"  echo hello | sudo ip netns exec {site.namespace(CLIENT[0])} "
        f"socat -t1 - UDP:{vip}:{PORT}")
    say("clean up with: nslb demo --clean")
    return answered
