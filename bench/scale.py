"""Many load balancers on one host: provisioning wall time and memory.

N full trees (listener, pool, 2 members, HM) are POSTed from a few threads; the wall time
runs until every VIP has answered 200 from the client namespace. Memory is the RSS of
every haproxy (masters and workers) under nslb's state dir, summed and divided by N (RSS
counts shared pages once per process, so PSS is given too), and the RSS of `nslb serve`.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.env import DEFAULT_HM, Env, tree
from bench.server import client, haproxy_pids


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(env: Env) -> dict[str, float]:
    pids = haproxy_pids(env.state_dir)
    rss = sum(_kb(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kb(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return {"processes": len(pids), "rss_mb": rss / 1024, "pss_mb": pss / 1024,
            "serve_rss_mb": _kb(f"/proc/{env.serve_pid}/status", "VmRSS") / 1024}


def run(env: Env, quick: bool) -> dict[str, Any]:
    count = 50 if quick else 200
    env.delete_all()
    idle_serve = memory(env)["serve_rss_mb"]
    members = list(env.backends)[:2]
    body = tree(env.subnet, members, DEFAULT_HM)

    def create(_: int) -> str:
        with client(env.url) as api:
            r = api.post("/v2/lbaas/loadbalancers", json=body)
            r.raise_for_status()
            return str(r.json()["loadbalancer"]["vip_address"])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        vips = list(pool.map(create, range(count)))
    posted = time.perf_counter() - start
    try:
        for vip in vips:
            env.serving_ms(vip)
    except RuntimeError as exc:
        rows = env.api.get("/v2/lbaas/loadbalancers?limit=1000").json()["loadbalancers"]
        states = Counter(row["provisioning_status"] for row in rows)
        raise RuntimeError(f"{exc} (after {time.perf_counter() - start:.0f} s; "
                           f"provisioning statuses {dict(states)})") from exc
    wall = time.perf_counter() - start
    time.sleep(2.0)  # let first health checks and the health loop settle
    mem = memory(env)
    t0 = time.perf_counter()
    env.delete_all(timeout=300)
    deleted = time.perf_counter() - t0
    leftovers = len(haproxy_pids(env.state_dir))
    lb_dirs = Path(env.state_dir) / "amp"  # one directory per amphora
    dirs_left = len(os.listdir(lb_dirs)) if lb_dirs.is_dir() else 0
    return {
        f"create_{count}_lbs_s": round(wall, 1),
        f"create_{count}_lbs_post_s": round(posted, 1),
        "scale_lbs": count,
        "rss_mb_per_lb": round(mem["rss_mb"] / count, 2),
        "pss_mb_per_lb": round(mem["pss_mb"] / count, 2),
        "haproxy_processes": mem["processes"],
        "control_plane_rss_mb": round(mem["serve_rss_mb"], 1),
        "control_plane_rss_mb_idle": round(idle_serve, 1),
        f"delete_{count}_lbs_s": round(deleted, 1),
        "haproxy_left_after_delete": leftovers,
        "lb_dirs_left_after_delete": dirs_left,
    }
