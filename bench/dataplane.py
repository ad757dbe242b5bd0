"""Create-to-serving: POST of a full LB tree until the first 200 through the VIP."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.api import p
from bench.lab import lab
from bench.server import client, make_network, nslb_serve


def _tree(subnet: str, members: list[str]) -> dict[str, Any]:
    return {"loadbalancer": {
        "vip_subnet_id": subnet,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": a, "protocol_port": 8080} for a in members],
                   "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                     "max_retries": 1}}]}}


def run(quick: bool) -> dict[str, Any]:
    count = 10 if quick else 20
    with lab() as lb:
        backends = []
        for i in (1, 2):
            ns = lb.host(f"be{i}", f"10.251.0.{100 + i}/24")
            lb.python(ns, "nslb.demo.backend", f"be{i}", "8080")
            backends.append(f"10.251.0.{100 + i}")
        probe = lb.python(lb.host("cl", "10.251.0.200/24"), "bench.probe")
        assert probe.stdin is not None and probe.stdout is not None
        with nslb_serve("namespace", f"physnet1:{lb.bridge}") as (url, _), client(url) as api:
            subnet = make_network(api, "physnet1", "10.251.0.0/24")
            time.sleep(0.5)  # let the backends bind
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                body = api.post("/v2/lbaas/loadbalancers", json=_tree(subnet, backends))
                vip = body.json()["loadbalancer"]["vip_address"]
                probe.stdin.write(f"{vip} 80\n".encode())
                probe.stdin.flush()
                if float(probe.stdout.readline()) < 0:
                    raise RuntimeError(f"VIP {vip} never answered")
                samples.append((time.perf_counter() - start) * 1000)
            for lb_row in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]:
                api.delete(f"/v2/lbaas/loadbalancers/{lb_row['id']}?cascade=true")
            deadline = time.monotonic() + 60
            while api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("load balancers were not deleted")
                time.sleep(0.2)
    return {"create_to_serving_ms_p50": round(statistics.median(samples), 1),
            "create_to_serving_ms_p95": round(p(samples, 0.95), 1),
            "create_to_serving_samples": len(samples)}
