"""API latency with two controllers on one PostgreSQL database vs one (issue 10, item 6).

    python -m bench.controllers            (root or a postgres-capable user; ~1 minute)

Starts a throwaway PostgreSQL cluster (the test tier's, tests/functional/test_postgres.py),
then on a fresh database each time: one `nslb serve` (noop driver), and two sharing the
database. The same client work runs against both set-ups: list LBs, create an LB and wait
for ACTIVE, add a member and wait for ACTIVE. With two, every request goes to the other
controller than the previous one and the wait polls the other one again, so a change
usually lands on the controller that does not hold the LB's lease and must reach its
holder through the database (NOTIFY). Both set-ups run side by side on their own
databases and take turns, SAMPLES times, so that other load on a shared machine falls on
both alike; each figure is the median of the samples' p50 milliseconds, each ratio
(two / one) the median of the samples' ratios. Writes bench/results/controllers.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.server import client, make_network, nslb_serve
from tests.functional.test_postgres import Cluster, _pg_bin, _reap_stale_clusters

ROUNDS = 10
LISTS = 50
SAMPLES = 5


@contextmanager
def postgres() -> Iterator[Cluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
    _reap_stale_clusters(bin_dir)
    root = Path(tempfile.mkdtemp(prefix="nslb-pg-"))
    (root / "owner.pid").write_text(str(os.getpid()))
    cluster = Cluster(bin_dir, root)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _wait_active(api: httpx.Client, lb_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
            "provisioning_status"]
        if status == "ACTIVE":
            return
        time.sleep(0.01)
    raise RuntimeError(f"LB {lb_id} not ACTIVE within {timeout} s")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _work(apis: list[httpx.Client], subnet: str) -> dict[str, float]:
    """p50 ms of each operation, requests alternating over `apis`."""
    turn = iter(range(10**9))

    def api() -> httpx.Client:
        return apis[next(turn) % len(apis)]

    creates, changes, lists = [], [], []
    lbs = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        lb = api().post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
            "name": "ct-bench", "vip_subnet_id": subnet}})
        lb.raise_for_status()
        lb_id = lb.json()["loadbalancer"]["id"]
        _wait_active(api(), lb_id)
        creates.append(_ms(start))
        lbs.append(lb_id)
    listener = api().post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lbs[0], "protocol": "HTTP", "protocol_port": 80}}).json()
    _wait_active(api(), lbs[0])
    pool = api().post("/v2/lbaas/pools", json={"pool": {
        "listener_id": listener["listener"]["id"], "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN"}}).json()["pool"]["id"]
    _wait_active(api(), lbs[0])
    for n in range(ROUNDS):
        start = time.perf_counter()
        api().post(f"/v2/lbaas/pools/{pool}/members", json={"member": {
            "address": f"10.236.2.{n + 10}", "protocol_port": 80}}).raise_for_status()
        _wait_active(api(), lbs[0])
        changes.append(_ms(start))
    for _ in range(LISTS):
        start = time.perf_counter()
        api().get("/v2/lbaas/loadbalancers").raise_for_status()
        lists.append(_ms(start))
    return {"create_lb_active_ms_p50": round(statistics.median(creates), 1),
            "add_member_active_ms_p50": round(statistics.median(changes), 1),
            "list_lbs_ms_p50": round(statistics.median(lists), 2)}


def _controllers(stack: ExitStack, cluster: Cluster, count: int) -> list[httpx.Client]:
    """`count` controllers on a fresh database; a client for each."""
    url = cluster.url(cluster.create_database())
    apis = []
    for n in range(count):
        base, _pid = stack.enter_context(nslb_serve(
            "noop", f"physnet1:nsbench-ct{count}{n}",
            ("--db", url, "--controller-id", f"ct-bench-{count}-{n}", "--metrics-listen", ""),
            start_timeout=90))
        apis.append(stack.enter_context(client(base)))
    return apis


def run() -> dict[str, Any]:
    ones, twos = [], []
    with postgres() as cluster, ExitStack() as stack:
        one, two = _controllers(stack, cluster, 1), _controllers(stack, cluster, 2)
        subnets = [make_network(apis[0], "physnet1", "10.236.0.0/16") for apis in (one, two)]
        for _ in range(SAMPLES):
            ones.append(_work(one, subnets[0]))
            twos.append(_work(two, subnets[1]))
    out: dict[str, Any] = {"rounds": ROUNDS, "samples": SAMPLES}
    for key in ones[0]:
        name = key.removesuffix("_p50")
        out[f"one_{name}_p50"] = statistics.median(s[key] for s in ones)
        out[f"two_{name}_p50"] = statistics.median(s[key] for s in twos)
        ratios = [round(t[key] / o[key], 2) for o, t in zip(ones, twos, strict=True)]
        out[f"ratio_two_vs_one_{name.removesuffix('_ms')}"] = statistics.median(ratios)
        out[f"ratio_two_vs_one_{name.removesuffix('_ms')}_samples"] = ratios
    return out


def main() -> None:
    results = run()
    text = json.dumps(results, indent=1)
    print(text)
    (Path(__file__).parent / "results" / "controllers.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
