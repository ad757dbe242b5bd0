"""Control-plane latencies with the noop driver, as an API client sees them."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.server import client, make_network, nslb_serve, wait_lb

PHYSNET = "physnet1:nsbench-br0"


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _create_active(api: httpx.Client, subnet: str) -> tuple[str, float]:
    start = time.perf_counter()
    lb = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": subnet}}).json()["loadbalancer"]
    wait_lb(api, lb["id"])
    return lb["id"], (time.perf_counter() - start) * 1000


def _step_by_step(api: httpx.Client, subnet: str) -> float:
    """LB, listener, pool, 2 members, HM, each waited for, as a script would do it."""
    start = time.perf_counter()
    lb_id, _ = _create_active(api, subnet)
    li = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}}).json()["listener"]
    wait_lb(api, lb_id)
    pool = api.post("/v2/lbaas/pools", json={"pool": {
        "listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}).json()
    pool_id = pool["pool"]["id"]
    wait_lb(api, lb_id)
    for n in (11, 12):
        api.post(f"/v2/lbaas/pools/{pool_id}/members", json={"member": {
            "address": f"10.253.0.{n}", "protocol_port": 80}})
        wait_lb(api, lb_id)
    api.post("/v2/lbaas/healthmonitors", json={"healthmonitor": {
        "pool_id": pool_id, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}})
    wait_lb(api, lb_id)
    return (time.perf_counter() - start) * 1000


def _create_many(url: str, subnet: str, count: int, threads: int = 4) -> None:
    """POST `count` bare LBs from a few threads (the noop driver makes them ACTIVE at once)."""
    def one(_: int) -> None:
        with client(url) as api:
            for _ in range(count // threads):
                api.post("/v2/lbaas/loadbalancers",
                         json={"loadbalancer": {"vip_subnet_id": subnet}}).raise_for_status()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(threads)))
    with client(url) as api:
        for _ in range(count % threads):
            api.post("/v2/lbaas/loadbalancers",
                     json={"loadbalancer": {"vip_subnet_id": subnet}}).raise_for_status()


def _timed(api: httpx.Client, path: str, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        r = api.get(path)
        r.raise_for_status()
        out.append((time.perf_counter() - start) * 1000)
    return out


def run(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with nslb_serve("noop", PHYSNET) as (url, _pid), client(url) as api:
        subnet = make_network(api, "physnet1", "10.253.0.0/16")
        creates = [_create_active(api, subnet)[1] for _ in range(20 if quick else 50)]
        results["api_create_lb_active_ms_p50"] = round(statistics.median(creates), 1)
        results["api_create_lb_active_ms_p95"] = round(p(creates, 0.95), 1)
        trees = [_step_by_step(api, subnet) for _ in range(5 if quick else 10)]
        results["api_lb_tree_step_by_step_ms_p50"] = round(statistics.median(trees), 1)
        _create_many(url, subnet, 200 - len(creates) - len(trees))
        listing = _timed(api, "/v2/lbaas/loadbalancers?limit=200", 20 if quick else 50)
        results["api_list_200_lbs_ms_p50"] = round(statistics.median(listing), 1)
        first = api.get("/v2/lbaas/loadbalancers?limit=1").json()["loadbalancers"][0]["id"]
        shows = _timed(api, f"/v2/lbaas/loadbalancers/{first}", 50 if quick else 200)
        results["api_show_lb_ms_p50"] = round(statistics.median(shows), 2)
        start = time.perf_counter()
        _create_many(url, subnet, 800)
        results["api_create_800_lbs_4_threads_s"] = round(time.perf_counter() - start, 1)
        count = len(api.get("/v2/lbaas/loadbalancers?limit=1000&fields=id").json()[
            "loadbalancers"])
        if count != 1000:
            raise RuntimeError(f"expected 1000 load balancers, found {count}")
        big = _timed(api, "/v2/lbaas/loadbalancers?limit=1000", 10 if quick else 20)
        results["api_list_1000_lbs_ms_p50"] = round(statistics.median(big), 1)
    return results
