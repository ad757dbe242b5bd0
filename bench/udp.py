"""UDP through the kernel (issue 12), standalone: `python -m bench.udp [--quick]` (root).

rate:    request/response rate through the VIP (nftables DNAT + masquerade in the amphora
         namespace) versus straight to the same member, from the same client, same program,
         alternating the two request by request; a path's rate is one over its median
         round trip (target ratio >= 0.9).
changes: a client sends one request per new flow without pause while the pool's membership
         changes 50 times through the API (a fourth member added, then removed, 25 times);
         datagrams without an answer are counted (target 0 beyond those in flight to a
         removed member).

Everything is named udp<hex>* and lives in 10.232.250.0/24; it is removed at exit.
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

SUBNET = "10.232.250.0/24"
MEMBERS = ["10.232.250.21", "10.232.250.22", "10.232.250.23", "10.232.250.24"]
CLIENT = "10.232.250.50"
PORT = 5353
TARGETS = {"udp_parallel_ratio_vip_vs_direct": ">= 0.9",
           "udp_changes_lost": "0 beyond those in flight to a removed member"}


def _echo(lb: Lab, index: int) -> None:
    ns = lb.host(f"m{index}", f"{MEMBERS[index]}/24")
    proc = lb.python(ns, "bench.udp_tools", "echo", f"m{index}", str(PORT))
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"


def _interleaved(ns: str, vip: str, seconds: str, clients: int) -> tuple[float, float]:
    """Answers per second through the VIP and straight to the member, summed over
    `clients` client processes running at once, each alternating the two paths request by
    request (bench.udp_tools interleaved)."""
    procs = [subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m",
                               "bench.udp_tools", "interleaved", vip, "53", MEMBERS[0],
                               str(PORT), seconds, "4"],
                              stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    return (sum(float(r["vip_rate"]) for r in results),
            sum(float(r["direct_rate"]) for r in results))


def rate(client: str, vip: str, quick: bool) -> dict[str, Any]:
    """One client process (the round trip: latency added by the extra hops through the
    amphora namespace) and three at once (whether the kernel path limits the rate). Each
    client alternates VIP and member request by request, so a noisy neighbour hurts both
    paths alike; the median of the rounds' ratios is the result."""
    seconds, rounds = ("2", 3) if quick else ("3", 5)
    out: dict[str, Any] = {}
    for clients, label in ((1, "serial"), (3, "parallel")):
        runs = [_interleaved(client, vip, seconds, clients) for _ in range(rounds)]
        ratios = [via / straight for via, straight in runs]
        out.update({
            f"udp_{label}_rate_vip_per_s": round(statistics.median(r[0] for r in runs)),
            f"udp_{label}_rate_direct_per_s": round(statistics.median(r[1] for r in runs)),
            f"udp_{label}_ratio_vip_vs_direct": round(statistics.median(ratios), 3),
            f"udp_{label}_ratio_samples": [round(r, 3) for r in ratios]})
    return out


def changes(api: httpx.Client, lb_id: str, pool_id: str, lb: Lab, client: str,
            vip: str) -> dict[str, Any]:
    stop = Path(tempfile.mkdtemp(prefix="nsb-udp-")) / "stop"
    proc = subprocess.Popen(["ip", "netns", "exec", client, sys.executable, "-m",
                             "bench.udp_tools", "loop", vip, "53", str(stop)],
                            stdout=subprocess.PIPE, text=True)
    try:
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
    finally:  # the client stops whatever happened (it would run on in a deleted namespace)
        stop.touch()
        output = proc.communicate(timeout=30)[0]
    result = json.loads(output)
    return {"udp_changes": 50, "udp_changes_seconds": round(seconds, 1),
            "udp_change_to_active_ms_p50": round(statistics.median(took) * 1000),
            "udp_changes_requests": result["ok"] + result["lost"],
            "udp_changes_lost": result["lost"]}


def run(quick: bool, parts: tuple[str, ...] = ("rate", "changes")) -> dict[str, Any]:
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
        if "rate" in parts:
            results.update(rate(cl, vip, quick))
        for m in members[1:]:
            api.put(f"/v2/lbaas/pools/{pool_id}/members/{m['id']}",
                    json={"member": {"admin_state_up": True}})
            wait_lb(api, created["id"], interval=0.01)
        if "changes" in parts:
            results.update(changes(api, created["id"], pool_id, lb, cl, vip))
        api.delete(f"/v2/lbaas/loadbalancers/{created['id']}?cascade=true")
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("rate", "changes"),
                        help="run one of the two measurements")
    args = parser.parse_args()
    parts = (args.only,) if args.only else ("rate", "changes")
    results = {"mode": "quick" if args.quick else "full", "targets": TARGETS,
               **run(args.quick, parts)}
    text = json.dumps(results, indent=1)
    (Path(__file__).parent / "results" / "udp.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
