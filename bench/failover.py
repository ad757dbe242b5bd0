"""Failover: how long the VIP is gone when things break, and what a failover costs.

vrrp_takeover_ms        ACTIVE_STANDBY: SIGKILL of the active amphora's haproxy until the
                        VIP answers again (the standby took it), polled with 50 ms attempts.
                        Octavia's defaults take 5-10 s here (3.6 s when a host dies). A
                        client whose SYN is lost in the switch waits for its own
                        retransmission (1 s) on top.
single_amphora_rebuild_ms  SINGLE: `PUT .../failover` until the LB is ACTIVE and its VIP
                        answers from the new amphora (Octavia: a VM boot, >= 60 s).
as_failover_failed_requests_newconn  wrk with a new connection per request through an
                        ACTIVE_STANDBY LB failover (both amphorae replaced); target 0.
pss_mb_per_as_lb        memory of one ACTIVE_STANDBY LB: 2 haproxy + 2 keepalived.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import wrk
from bench.env import FAST_HM, Env, environment, tree
from bench.scale import _kb
from bench.server import haproxy_pids, keepalived_pids, wait_lb


def _holder(env: Env, lb_id: str, vip: str) -> Path | None:
    for directory in env.amphora_dirs(lb_id):
        out = subprocess.run(["ip", "netns", "exec", f"nslb-{directory.name}", "ip", "-o",
                              "addr"], capture_output=True, text=True, check=False).stdout
        if f" {vip}/" in out:
            return directory
    return None


def _kill_haproxy(directory: Path) -> None:
    config = str(directory / "haproxy.cfg").encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if config in Path(f"/proc/{entry}/cmdline").read_bytes():
                    os.kill(int(entry), signal.SIGKILL)
            except OSError:
                continue


def _wait_for_holder(env: Env, lb_id: str, vip: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = _holder(env, lb_id, vip)
        if holder is not None:
            return holder
        time.sleep(0.1)
    raise RuntimeError(f"nobody holds the VIP of {lb_id}")


def takeover(env: Env, quick: bool) -> dict[str, Any]:
    samples = []
    for _ in range(3 if quick else 5):
        lb = env.api.post("/v2/lbaas/loadbalancers",
                          json=tree(env.subnet, list(env.backends)[:2], FAST_HM)).json()
        lb_id, vip = lb["loadbalancer"]["id"], lb["loadbalancer"]["vip_address"]
        wait_lb(env.api, lb_id)
        env.serving_ms(vip)
        holder = _wait_for_holder(env, lb_id, vip)
        time.sleep(1.0)  # VRRP settled
        start = time.perf_counter()
        _kill_haproxy(holder)
        # Short attempts: a SYN sent while the VIP moves is lost, and a client's own retry
        # (TCP's first retransmission after 1 s) is not what this figure measures.
        env.serving_ms(vip, attempt=0.05)
        samples.append((time.perf_counter() - start) * 1000)
        env.api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    return {"vrrp_takeover_ms_p50": round(statistics.median(samples), 1),
            "vrrp_takeover_ms_samples": [round(s) for s in samples]}


def as_failover(env: Env, quick: bool) -> dict[str, Any]:
    lb = env.api.post("/v2/lbaas/loadbalancers",
                      json=tree(env.subnet, list(env.backends)[:2], FAST_HM)).json()
    lb_id, vip = lb["loadbalancer"]["id"], lb["loadbalancer"]["vip_address"]
    wait_lb(env.api, lb_id)
    env.serving_ms(vip)
    _wait_for_holder(env, lb_id, vip)
    pids = haproxy_pids(env.state_dir) + keepalived_pids(env.state_dir)
    pss = sum(_kb(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids) / 1024
    load = wrk.Background(env.client_ns, f"http://{vip}/", max_seconds=120, close=True)
    try:
        time.sleep(1.0)
        start = time.perf_counter()
        r = env.api.put(f"/v2/lbaas/loadbalancers/{lb_id}/failover")
        r.raise_for_status()
        time.sleep(0.2)
        wait_lb(env.api, lb_id, timeout=90, interval=0.05)
        failover_ms = (time.perf_counter() - start) * 1000
        time.sleep(1.0)
        result = load.stop()
    finally:
        load.kill()
    env.api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    return {"as_failover_failed_requests_newconn": result.failed,
            "as_failover_total_requests_newconn": result.requests,
            "as_failover_ms": round(failover_ms, 1),
            "pss_mb_per_as_lb": round(pss, 2), "as_lb_processes": len(pids)}


def single_rebuild(env: Env, quick: bool) -> dict[str, Any]:
    samples = []
    for _ in range(3 if quick else 5):
        lb = env.api.post("/v2/lbaas/loadbalancers",
                          json=tree(env.subnet, list(env.backends)[:2], FAST_HM)).json()
        lb_id, vip = lb["loadbalancer"]["id"], lb["loadbalancer"]["vip_address"]
        wait_lb(env.api, lb_id)
        env.serving_ms(vip)
        start = time.perf_counter()
        env.api.put(f"/v2/lbaas/loadbalancers/{lb_id}/failover").raise_for_status()
        time.sleep(0.05)
        wait_lb(env.api, lb_id, timeout=60, interval=0.02)
        env.serving_ms(vip)
        samples.append((time.perf_counter() - start) * 1000)
        env.api.delete(f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
    return {"single_amphora_rebuild_ms_p50": round(statistics.median(samples), 1),
            "single_amphora_rebuild_ms_samples": [round(s) for s in samples]}


def run(env: Env, quick: bool) -> dict[str, Any]:
    """SINGLE figures in `env`; ACTIVE_STANDBY ones on a server of that topology."""
    out = single_rebuild(env, quick)
    env.delete_all()
    with environment(extra=("--topology", "ACTIVE_STANDBY")) as pair_env:
        out.update(takeover(pair_env, quick))
        pair_env.delete_all()
        out.update(as_failover(pair_env, quick))
    return out
