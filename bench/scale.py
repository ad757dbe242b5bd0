"""Many load balancers on one host: what one more costs, and what the idle host costs, as
the count grows to 1,000 (full mode; quick mode stops at 100).

Each step adds LBs (a full tree each: HTTP listener, ROUND_ROBIN pool of 2 members, HTTP
monitor with delay 5) from 4 threads until every new VIP answered 200, then, with nothing
else going on, records:

- time per LB while adding: that wall time over the LBs added;
- idle `nslb serve` CPU: utime+stime from /proc/<pid>/stat over one resync interval
  (its children's too, separately), in % of one core;
- list of all LBs and show of one, p50 as an API client sees them;
- the health loop's round: p50 and max from `nslb serve`'s INFO summary of the rounds of
  the last 30 s (a window that starts after the adding ended);
- one more LB created -> its VIP answers 200 (sequential, each polled from the client
  namespace; 5 samples in full mode, 2 in quick, each kept beside their median);
- PSS of all haproxy processes (smaps_rollup) per LB, and the RSS of `nslb serve`.

After the last step: member-down detection among them (a dead backend behind one LB with
an HTTP monitor of delay 1, timeout 1, one retry), then the time to delete them all.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import health
from bench.env import DEFAULT_HM, Env, backend_ip, environment, tree
from bench.server import client, haproxy_pids, wait_lb

STEPS_FULL = (100, 250, 500, 750, 1000)
STEPS_QUICK = (50, 100)
RESYNC_INTERVAL = 10.0  # nslb serve's default: one idle window covers one resync cycle
SUMMARY = re.compile(r"health rounds: (\d+) amphorae of (\d+) load balancers, (\d+) rounds, "
                     r"p50 ([\d.]+) ms, max ([\d.]+) ms")
SUMMARY_EVERY = 30.0
TICK = os.sysconf("SC_CLK_TCK")


def _kb(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(env: Env) -> dict[str, float]:
    """PSS and RSS (MB) of every haproxy under nslb's state dir, and RSS of `nslb serve`."""
    pids = haproxy_pids(env.state_dir)
    rss = sum(_kb(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kb(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return {"processes": len(pids), "rss_mb": rss / 1024, "pss_mb": pss / 1024,
            "serve_rss_mb": _kb(f"/proc/{env.serve_pid}/status", "VmRSS") / 1024}


def _cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def idle_cpu(pid: int, seconds: float) -> tuple[float, float]:
    """% of one core `pid` (and, separately, its reaped children) used over `seconds`."""
    own0, kids0 = _cpu_ticks(pid)
    start = time.monotonic()
    time.sleep(seconds)
    own1, kids1 = _cpu_ticks(pid)
    wall = time.monotonic() - start
    return (100 * (own1 - own0) / TICK / wall, 100 * (kids1 - kids0) / TICK / wall)


def _timed(env: Env, path: str, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        env.api.get(path).raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _add(env: Env, count: int, body: dict[str, Any]) -> float:
    """POST `count` LBs from 4 threads; seconds until every new VIP answered 200."""
    def create(_: int) -> str:
        with client(env.url) as api:
            r = api.post("/v2/lbaas/loadbalancers", json=body)
            r.raise_for_status()
            return str(r.json()["loadbalancer"]["vip_address"])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        vips = list(pool.map(create, range(count)))
    try:
        for vip in vips:
            env.serving_ms(vip)
    except RuntimeError as exc:
        rows = env.api.get("/v2/lbaas/loadbalancers?limit=1000").json()["loadbalancers"]
        states = Counter(row["provisioning_status"] for row in rows)
        raise RuntimeError(f"{exc} (after {time.perf_counter() - start:.0f} s; "
                           f"provisioning statuses {dict(states)})") from exc
    return time.perf_counter() - start


def _one_more(env: Env, body: dict[str, Any]) -> float:
    """ms from the POST of one more LB until its VIP answers 200."""
    start = time.perf_counter()
    r = env.api.post("/v2/lbaas/loadbalancers", json=body)
    r.raise_for_status()
    env.serving_ms(r.json()["loadbalancer"]["vip_address"], attempt=0.2)
    return (time.perf_counter() - start) * 1000


def health_rounds(env: Env, after: float, timeout: float = 3 * SUMMARY_EVERY) -> dict[str, Any]:
    """The first health summary `nslb serve` logs once `after` (monotonic) has passed."""
    log = Path(env.state_dir) / "serve.log"
    time.sleep(max(0.0, after - time.monotonic()))
    offset = log.stat().st_size
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log.open() as f:
            f.seek(offset)
            for line in f:
                match = SUMMARY.search(line)
                if match:
                    return {"health_round_ms_p50": float(match.group(4)),
                            "health_round_ms_max": float(match.group(5)),
                            "health_rounds": int(match.group(3)),
                            "amphorae_observed": int(match.group(1))}
        time.sleep(1.0)
    return {"health_round_ms_p50": None, "health_round_ms_max": None}


def step(env: Env, body: dict[str, Any], target: int, current: int,
         quick: bool) -> dict[str, Any]:
    """Grow from `current` to `target` LBs and measure the host at rest."""
    added = target - current
    wall = _add(env, added, body)
    settled = time.monotonic()
    row: dict[str, Any] = {"lbs": target, "add_s_per_lb": round(wall / added, 3)}
    time.sleep(RESYNC_INTERVAL)  # first resyncs of the new LBs: the steady state after
    own, kids = idle_cpu(env.serve_pid, RESYNC_INTERVAL)
    row["idle_cpu_pct"], row["idle_cpu_children_pct"] = round(own, 1), round(kids, 1)
    row["list_all_ms_p50"] = round(_timed(env, "/v2/lbaas/loadbalancers?limit=1000",
                                          10 if quick else 20), 1)
    first = env.api.get("/v2/lbaas/loadbalancers?limit=1").json()["loadbalancers"][0]["id"]
    row["show_ms_p50"] = round(_timed(env, f"/v2/lbaas/loadbalancers/{first}", 50), 2)
    rounds = health_rounds(env, after=settled + SUMMARY_EVERY)
    row["health_round_ms_p50"] = rounds["health_round_ms_p50"]
    row["health_round_ms_max"] = rounds["health_round_ms_max"]
    mem = memory(env)
    row["pss_mb_per_lb"] = round(mem["pss_mb"] / target, 2)
    row["serve_rss_mb"] = round(mem["serve_rss_mb"], 1)
    samples = [_one_more(env, body) for _ in range(one_more_samples(quick))]
    row["create_to_serving_ms"] = round(statistics.median(samples), 1)
    row["create_to_serving_ms_samples"] = [round(x) for x in samples]
    return row


def one_more_samples(quick: bool) -> int:
    """How many one-more LBs a step creates (they stay: at 1,000 the bridge's room counts)."""
    return 2 if quick else 5


def member_down(env: Env, samples: int) -> dict[str, Any]:
    """Member-down detection behind one LB among all the others (bench/health.py's way)."""
    victim = backend_ip(3)
    if victim not in env.backends:
        env.backend(victim)
    lb = env.api.post("/v2/lbaas/loadbalancers", json=tree(
        env.subnet, [list(env.backends)[0], victim], health.HM)).json()["loadbalancer"]
    env.serving_ms(lb["vip_address"])
    wait_lb(env.api, lb["id"], interval=0.05)
    down = []
    for _ in range(samples):
        health._wait_status(env, lb["id"], victim, "ONLINE", 30)
        time.sleep(0.5)
        env.kill_backend(victim)
        down.append(health._wait_status(env, lb["id"], victim, "ERROR", 30))
        env.backend(victim)
    return {"scale_member_down_detect_ms": round(statistics.median(down)),
            "scale_member_down_detect_ms_samples": [round(x) for x in down]}


def run(quick: bool) -> dict[str, Any]:
    """The scale part, in a bench environment of its own (its `nslb serve` logs at INFO,
    for the health summaries)."""
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    with environment(extra=("--log-level", "INFO")) as env:
        body = tree(env.subnet, list(env.backends)[:2], DEFAULT_HM)
        current = 0
        try:
            for target in STEPS_QUICK if quick else STEPS_FULL:
                row = step(env, body, target, current, quick)
                current = target + one_more_samples(quick)  # the one-more LBs stay
                rows.append(row)
                print(f"scale: {row}", flush=True)
            results.update(member_down(env, 1 if quick else 3))
        except Exception as exc:  # noqa: BLE001  (keep the steps measured so far)
            results["error_scale"] = f"{type(exc).__name__}: {exc}"
        results.update(_headline(rows))
        results["scale_steps"] = rows
        start = time.perf_counter()
        env.delete_all(timeout=900)
        results["scale_delete_all_s"] = round(time.perf_counter() - start, 1)
        results["scale_haproxy_left_after_delete"] = len(haproxy_pids(env.state_dir))
        amp = Path(env.state_dir) / "amp"
        results["scale_amphora_dirs_left"] = len(os.listdir(amp)) if amp.is_dir() else 0
    return results


def _headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The last step's figures under flat keys (what the targets are about)."""
    if not rows:
        return {}
    last = rows[-1]
    out = {"scale_lbs": last["lbs"]}
    for key in ("health_round_ms_p50", "health_round_ms_max", "create_to_serving_ms",
                "list_all_ms_p50", "show_ms_p50", "idle_cpu_pct", "idle_cpu_children_pct",
                "pss_mb_per_lb", "add_s_per_lb"):
        out[f"scale_{key}"] = last[key]
    out["scale_create_to_serving_ms_samples"] = last["create_to_serving_ms_samples"]
    out["scale_create_to_serving_ms_first_step"] = rows[0]["create_to_serving_ms"]
    return out
