"""Member-down detection: kill a backend, time until its member shows ERROR in the status tree.

Health monitor delay 1, timeout 1, max_retries 1, max_retries_down 1. The time includes
haproxy's check interval, nslb's health loop (1 s) and one status-tree poll (20 ms).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.env import Env, backend_ip, tree
from bench.server import wait_lb

HM = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 1}
POLL = 0.02


def _member_status(env: Env, lb_id: str, address: str) -> str:
    body = env.api.get(f"/v2/lbaas/loadbalancers/{lb_id}/status").json()
    for listener in body["statuses"]["loadbalancer"]["listeners"]:
        for pool in listener["pools"]:
            for member in pool["members"]:
                if member["address"] == address:
                    return str(member["operating_status"])
    return "ABSENT"


def _wait_status(env: Env, lb_id: str, address: str, want: str, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if _member_status(env, lb_id, address) == want:
            return (time.perf_counter() - start) * 1000
        time.sleep(POLL)
    raise RuntimeError(f"member {address} not {want} after {timeout} s")


def run(env: Env, quick: bool) -> dict[str, Any]:
    victim = backend_ip(3)
    if victim not in env.backends:
        env.backend(victim)
    lb = env.api.post("/v2/lbaas/loadbalancers", json=tree(
        env.subnet, [list(env.backends)[0], victim], HM)).json()["loadbalancer"]
    env.serving_ms(lb["vip_address"])
    wait_lb(env.api, lb["id"], interval=0.01)
    samples, recover = [], []
    for _ in range(3 if quick else 5):
        _wait_status(env, lb["id"], victim, "ONLINE", 20)
        time.sleep(0.5)
        env.kill_backend(victim)
        samples.append(_wait_status(env, lb["id"], victim, "ERROR", 20))
        env.backend(victim)
        recover.append(_wait_status(env, lb["id"], victim, "ONLINE", 20))
    env.api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    return {"member_down_detect_ms": round(statistics.median(samples)),
            "member_down_detect_ms_samples": [round(x) for x in samples],
            "member_up_detect_ms": round(statistics.median(recover)),
            "member_down_hm": "HTTP delay 1 timeout 1 max_retries 1 max_retries_down 1"}
