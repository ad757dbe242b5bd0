"""UDP through the kernel (issue 12), standalone: `python -m bench.udp [--quick]` (root).

rate:    request/response rate through the VIP (nftables DNAT + masquerade in the amphora
         namespace) versus straight to the same member, from the same client, same program;
         the runs alternate and the median of each is compared (target ratio >= 0.9).
changes: a client sends one request per new flow without pause while the pool's membership
         changes 50 times through the API (a fourth member added, then removed, 25 times);
         datagrams without an answer are counted (target 0 beyond those in flight to a
         removed member).

Everything is named udp<hex>* and lives in 10.202.250.0/24; it is removed at exit.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.lab import Lab, lab
from bench.server import client, make_network, nslb_serve, wait_lb

SUBNET = "10.202.250.0/24"
MEMBERS = ["10.202.250.21", "10.202.250.22", "10.202.250.23", "10.202.250.24"]
CLIENT = "10.202.250.50"
PORT = 5353
TARGETS = {"udp_parallel_ratio_vip_vs_direct": ">= 0.9",
           "udp_changes_lost": "0 beyond those in flight to a removed member"}


def _echo(lb: Lab, index: int) -> None:
    ns = lb.host(f"m{index}", f"{MEMBERS[index]}/24")
    proc = lb.python(ns, "bench.udp_tools", "echo", f"m{index}", str(PORT))
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"


def _pingpong(ns: str, host: str, port: int, seconds: str, clients: int) -> float:
    """Answers per second summed over `clients` client processes running at once."""
    procs = [subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                               "bench.udp_tools", "pingpong", host, str(port), seconds, "4"],
                              stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    return sum(float(json.loads(p.communicate(timeout=120)[0])["rate"]) for p in procs)


def rate(client: str, vip: str, quick: bool) -> dict[str, Any]:
    """One client process (the round trip: latency added by the extra hops through the
    amphora namespace) and three at once (whether the kernel path limits the rate)."""
    seconds, rounds = ("2", 3) if quick else ("4", 5)
    out: dict[str, Any] = {}
    for clients, label in ((1, "serial"), (3, "parallel")):
        through, direct = [], []
        for _ in range(rounds):  # alternating, so a noisy neighbour hurts both alike
            through.append(_pingpong(client, vip, 53, seconds, clients))
            direct.append(_pingpong(client, MEMBERS[0], PORT, seconds, clients))
        via, straight = statistics.median(through), statistics.median(direct)
        out.update({f"udp_{label}_rate_vip_per_s": round(via),
                    f"udp_{label}_rate_direct_per_s": round(straight),
                    f"udp_{label}_ratio_vip_vs_direct": round(via / straight, 3),
                    f"udp_{label}_ratio_samples": [round(a / b, 3) for a, b in
                                                   zip(through, direct, strict=True)]})
    return out


def changes(api: httpx.Client, lb_id: str, pool_id: str, lb: Lab, client: str,
            vip: str) -> dict[str, Any]:
    stop = Path(tempfile.mkdtemp(prefix="nsb-udp-")) / "stop"
    proc = subprocess.Popen(["ip", "netns", "exec", client, sys.executable, "-m",
                             "bench.udp_tools", "loop", vip, "53", str(stop)],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    started = time.perf_counter()
    url = f"/v2/lbaas/pools/{pool_id}/members"
    took = []
    for _ in range(25):
        began = time.perf_counter()
        member = api.post(url, json={"member": {"address": MEMBERS[3],
                                                "protocol_port": PORT}}).json()["member"]
        wait_lb(api, lb_id, interval=0.01)
        took.append(time.perf_counter() - began)
        began = time.perf_counter()
        api.delete(f"{url}/{member['id']}")
        wait_lb(api, lb_id, interval=0.01)
        took.append(time.perf_counter() - began)
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    stop.touch()
    result = json.loads(proc.communicate(timeout=30)[0])
    return {"udp_changes": 50, "udp_changes_seconds": round(seconds, 1),
            "udp_change_to_active_ms_p50": round(statistics.median(took) * 1000),
            "udp_changes_requests": result["ok"] + result["lost"],
            "udp_changes_lost": result["lost"]}


def run(quick: bool) -> dict[str, Any]:
    with lab(tag=f"udp{secrets.token_hex(2)}") as lb, \
            nslb_serve("namespace", f"udpnet1:{lb.bridge}") as (url, _pid), \
            client(url) as api:
        subnet = make_network(api, "udpnet1", SUBNET)
        for index in range(4):
            _echo(lb, index)
        cl = lb.host("cl", f"{CLIENT}/24")
        body = {"loadbalancer": {"name": "udp", "vip_subnet_id": subnet, "listeners": [{
            "protocol": "UDP", "protocol_port": 53, "default_pool": {
                "name": "udp", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": a, "protocol_port": PORT} for a in MEMBERS[:3]]}}]}}
        answer = api.post("/v2/lbaas/loadbalancers", json=body)
        assert answer.status_code == 201, answer.text
        created = answer.json()["loadbalancer"]
        wait_lb(api, created["id"])
        vip = created["vip_address"]
        results: dict[str, Any] = {}
        # The rate is measured against one member, as the direct runs are.
        pool_id = api.get("/v2/lbaas/pools").json()["pools"][0]["id"]
        members = api.get(f"/v2/lbaas/pools/{pool_id}/members").json()["members"]
        for m in members[1:]:
            api.put(f"/v2/lbaas/pools/{pool_id}/members/{m['id']}",
                    json={"member": {"admin_state_up": False}})
            wait_lb(api, created["id"], interval=0.01)
        results.update(rate(cl, vip, quick))
        for m in members[1:]:
            api.put(f"/v2/lbaas/pools/{pool_id}/members/{m['id']}",
                    json={"member": {"admin_state_up": True}})
            wait_lb(api, created["id"], interval=0.01)
        results.update(changes(api, created["id"], pool_id, lb, cl, vip))
        api.delete(f"/v2/lbaas/loadbalancers/{created['id']}?cascade=true")
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    results = {"mode": "quick" if quick else "full", "targets": TARGETS, **run(quick)}
    text = json.dumps(results, indent=1)
    (Path(__file__).parent / "results" / "udp.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
