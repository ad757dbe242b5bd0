"""Configuration changes under load: 100 API changes while wrk drives traffic through a VIP.

The changes cycle through member add, weight change, member remove, listener add and
listener remove; each waits for the LB to be ACTIVE again. Every wrk socket error and
every non-2xx/3xx answer counts as a failed request. How many changes reloaded haproxy is
counted from the master's reload counter (member changes go through the runtime API).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import wrk
from bench.api import p
from bench.env import BACKEND_PORT, DEFAULT_HM, Env, backend_ip, tree
from bench.server import wait_lb

CHANGES = 100


def run(env: Env, quick: bool, close: bool = False) -> dict[str, Any]:
    backends = list(env.backends)[:2]
    extra = backend_ip(2)
    if extra not in env.backends:
        env.backend(extra)
    lb = env.api.post("/v2/lbaas/loadbalancers",
                      json=tree(env.subnet, backends, DEFAULT_HM)).json()["loadbalancer"]
    lb_id = lb["id"]
    env.serving_ms(lb["vip_address"])
    wait_lb(env.api, lb_id, interval=0.01)
    pool_id = env.api.get(f"/v2/lbaas/pools?loadbalancer_id={lb_id}").json()["pools"][0]["id"]
    load = wrk.Background(env.client_ns, f"http://{lb['vip_address']}/", max_seconds=600,
                          close=close)
    member_id = listener_id = ""
    kinds: dict[str, list[float]] = {}
    reloaded: dict[str, int] = {}
    started = time.monotonic()
    try:
        time.sleep(1.0)
        reloads = env.haproxy_reloads(lb_id)
        for i in range(CHANGES):
            kind = ("member_add", "member_weight", "member_remove", "listener_add",
                    "listener_remove")[i % 5]
            t0 = time.perf_counter()
            if kind == "member_add":
                r = env.api.post(f"/v2/lbaas/pools/{pool_id}/members", json={"member": {
                    "address": extra, "protocol_port": BACKEND_PORT}})
                member_id = r.json()["member"]["id"]
            elif kind == "member_weight":
                r = env.api.put(f"/v2/lbaas/pools/{pool_id}/members/{member_id}",
                                json={"member": {"weight": 5 + i % 7}})
            elif kind == "member_remove":
                r = env.api.delete(f"/v2/lbaas/pools/{pool_id}/members/{member_id}")
            elif kind == "listener_add":
                r = env.api.post("/v2/lbaas/listeners", json={"listener": {
                    "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 81}})
                listener_id = r.json()["listener"]["id"]
            else:
                r = env.api.delete(f"/v2/lbaas/listeners/{listener_id}")
            if r.status_code >= 300:
                raise RuntimeError(f"{kind}: {r.status_code} {r.text}")
            wait_lb(env.api, lb_id, timeout=30, interval=0.01)
            kinds.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            now = env.haproxy_reloads(lb_id)
            reloaded[kind] = reloaded.get(kind, 0) + now - reloads
            reloads = now
            if time.monotonic() - started > 300:
                raise RuntimeError("configuration changes took over 300 s")
        time.sleep(1.0)
        result = load.stop()
    finally:
        load.kill()
    env.api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    every = [ms for values in kinds.values() for ms in values]
    suffix = "_newconn" if close else ""
    out: dict[str, Any] = {
        f"reload_failed_requests{suffix}": result.failed,
        f"reload_total_requests{suffix}": result.requests,
        f"reload_socket_errors{suffix}": result.socket_errors,
        f"reload_non_2xx{suffix}": result.non_2xx_3xx,
        # how many of the changes reloaded haproxy (member changes use the runtime API)
        f"reload_reloads{suffix}": sum(reloaded.values()),
    }
    if not close:
        out["reload_changes"] = len(every)
        out["reload_change_to_active_ms_p50"] = round(statistics.median(every), 1)
        out["reload_change_to_active_ms_p95"] = round(p(every, 0.95), 1)
        out.update({f"reload_{k}_ms_p50": round(statistics.median(v), 1)
                    for k, v in kinds.items()})
        out.update({f"reload_{k}_reloads": n for k, n in reloaded.items()})
    return out
