"""Namespace-driver benchmarks, all in one bench environment (see bench/env.py).

serving:    create-to-serving, POST of a full LB tree until the first 200 through the VIP
throughput: nslb VIP vs a minimal hand-written HAProxy (bench/throughput.py)
reload:     100 configuration changes under load (bench/reload.py)
health:     member-down detection (bench/health.py)
failover:   VRRP takeover, SINGLE rebuild, ACTIVE_STANDBY failover under load (bench/failover.py)
scale:      growing to 1,000 LBs on one host, in an environment of its own (bench/scale.py)
tls:        TERMINATED_HTTPS vs hand-written HAProxy TLS, rotations under load (bench/tls.py)
footprint:  one LB's haproxy memory as rendered and with nbthread 1 / a lower maxconn, and
            what each costs in requests/s (bench/footprint.py)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import failover, footprint, health, reload, scale, throughput, tls
from bench.api import p
from bench.env import FAST_HM, Env, environment, tree

PARTS = ("serving", "throughput", "reload", "health", "failover", "tls", "footprint", "scale")


def _tree(subnet: str, members: list[str]) -> dict[str, Any]:
    return tree(subnet, members, FAST_HM)


def create_to_serving(env: Env, quick: bool) -> dict[str, Any]:
    count = 10 if quick else 20
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        body = env.api.post("/v2/lbaas/loadbalancers",
                            json=_tree(env.subnet, list(env.backends)[:2]))
        env.serving_ms(body.json()["loadbalancer"]["vip_address"])
        samples.append((time.perf_counter() - start) * 1000)
    env.delete_all()
    return {"create_to_serving_ms_p50": round(statistics.median(samples), 1),
            "create_to_serving_ms_p95": round(p(samples, 0.95), 1),
            "create_to_serving_samples": len(samples)}


def run(quick: bool, parts: tuple[str, ...] = PARTS,
        configs: dict[str, str] | None = None) -> dict[str, Any]:
    """Figures of the selected parts; rendered vs reference haproxy.cfg land in `configs`."""
    results: dict[str, Any] = {}
    shared = tuple(part for part in parts if part != "scale")
    if shared:
        results.update(_shared(quick, shared, configs))
    if "scale" in parts:  # 1,000 LBs: a fresh `nslb serve` and bridge of its own
        t0 = time.monotonic()
        try:
            results.update(scale.run(quick))
        except Exception as exc:  # noqa: BLE001
            results["error_scale"] = f"{type(exc).__name__}: {exc}"
        results["wall_s_scale"] = round(time.monotonic() - t0, 1)
    return results


def _shared(quick: bool, parts: tuple[str, ...],
            configs: dict[str, str] | None) -> dict[str, Any]:
    """The parts that share one bench environment."""
    results: dict[str, Any] = {}
    with environment() as env:
        for part in parts:
            t0 = time.monotonic()
            try:  # one failing part is recorded and does not lose the others' figures
                if part == "serving":
                    results.update(create_to_serving(env, quick))
                elif part == "throughput":
                    figures, texts = throughput.run(env, quick)
                    results.update(figures)
                    if configs is not None:
                        configs.update(texts)
                elif part == "reload":
                    results.update(reload.run(env, quick))
                    results.update(reload.run(env, quick, close=True))
                elif part == "health":
                    results.update(health.run(env, quick))
                elif part == "failover":
                    results.update(failover.run(env, quick))
                elif part == "tls":
                    results.update(tls.run(env, quick))
                elif part == "footprint":
                    results.update(footprint.run(env, quick))
            except Exception as exc:  # noqa: BLE001
                results[f"error_{part}"] = f"{type(exc).__name__}: {exc}"
            env.delete_all(timeout=300)
            results[f"wall_s_{part}"] = round(time.monotonic() - t0, 1)
    return results
