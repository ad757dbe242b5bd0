"""What one LB's haproxy costs in memory, and what two tunings would save and cost.

nslb's rendered haproxy.cfg of one LB is started four times in the reference namespace
(the way nslb starts it: master-worker, daemonised), as rendered and with each tuning:

  rendered     as nslb renders it (global maxconn from the descriptor budget,
               render/limits.py; haproxy's default thread count, one per CPU)
  nbthread1    `nbthread 1` in `global`
  maxconn2000  global maxconn 2,000 (the descriptor tables haproxy sizes from it)
  both         the two together

For each: PSS and private memory of master + worker (smaps_rollup) once every variant
answered, and requests/s through it with wrk (HTTP keep-alive and a new connection per
request, variants alternated each round, medians), as a ratio to `rendered`. PSS here is
shared by only a few haproxies, so the private figure is the one that scales per LB.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench import wrk
from bench.env import DEFAULT_HM, HOSTS, PREFIX, Env, tree
from bench.throughput import _global_maxconn

ADDRESS = HOSTS + "30"
VARIANTS = ("rendered", "nbthread1", "maxconn2000", "both")
LOW_MAXCONN = 2000


def variant(cfg: str, name: str) -> str:
    """`cfg` with the tuning `name` applied."""
    if name in ("nbthread1", "both"):
        cfg = cfg.replace("global\n", "global\n    nbthread 1\n", 1)
    if name in ("maxconn2000", "both"):
        cfg = re.sub(r"^    maxconn \d+$", f"    maxconn {LOW_MAXCONN}", cfg, count=1,
                     flags=re.MULTILINE)
    return cfg


def _rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


def _family(pidfile: Path) -> list[int]:
    """The master (pid file) and its children (the workers)."""
    master = int(pidfile.read_text().split()[0])
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def memory_kb(pidfile: Path) -> dict[str, int]:
    """PSS and private (clean + dirty) kB of master + workers."""
    pss = private = 0
    for pid in _family(pidfile):
        rollup = _rollup(pid)
        pss += rollup["Pss"]
        private += rollup["Private_Clean"] + rollup["Private_Dirty"]
    return {"pss_kb": pss, "private_kb": private}


def run(env: Env, quick: bool) -> dict[str, Any]:
    rounds, seconds, connections = (3, 3.0, 32) if quick else (5, 6.0, 32)
    backends = list(env.backends)[:2]
    lb = env.api.post("/v2/lbaas/loadbalancers",
                      json=tree(env.subnet, backends, DEFAULT_HM)).json()["loadbalancer"]
    env.serving_ms(lb["vip_address"])
    rendered = env.haproxy_config(lb["id"])
    ns = env.lab.host("fp", f"{ADDRESS}/{PREFIX}")
    pidfiles: dict[str, Path] = {}
    for port, name in enumerate(VARIANTS, start=81):
        cfg = re.sub(r"stats socket \S+", f"stats socket {env.workdir}/fp-{name}.sock",
                     variant(rendered, name))
        cfg = cfg.replace(f"bind {lb['vip_address']}:80", f"bind {ADDRESS}:{port}")
        pidfiles[name] = env.daemon(ns, f"fp-{name}", cfg)
    urls = {name: f"http://{ADDRESS}:{port}/" for port, name in enumerate(VARIANTS, start=81)}
    for name, url in urls.items():
        env.serving_ms(ADDRESS, 81 + VARIANTS.index(name))
        wrk.run(env.client_ns, url, 1, connections)
    time.sleep(1.0)  # idle again: memory at rest after the first connections
    memory = {name: memory_kb(pidfiles[name]) for name in VARIANTS}
    samples: dict[str, list[float]] = {}
    for r in range(rounds):
        for mode in ("keepalive", "newconn"):
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                res = wrk.run(env.client_ns, urls[name], seconds, connections,
                              close=mode == "newconn")
                samples.setdefault(f"{mode}_{name}", []).append(res.rps)
    env.api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    medians = {k: statistics.median(v) for k, v in samples.items()}
    out: dict[str, Any] = {"footprint_rendered_maxconn": _global_maxconn(rendered)}
    for name in VARIANTS:
        out[f"footprint_{name}_pss_mb"] = round(memory[name]["pss_kb"] / 1024, 2)
        out[f"footprint_{name}_private_mb"] = round(memory[name]["private_kb"] / 1024, 2)
        for mode in ("keepalive", "newconn"):
            out[f"footprint_{name}_rps_{mode}"] = round(medians[f"{mode}_{name}"])
            if name != "rendered":
                out[f"footprint_{name}_ratio_{mode}"] = round(
                    medians[f"{mode}_{name}"] / medians[f"{mode}_rendered"], 3)
        if name != "rendered":
            out[f"footprint_{name}_saves_private_mb"] = round(
                (memory["rendered"]["private_kb"] - memory[name]["private_kb"]) / 1024, 2)
    out["footprint_samples"] = {k: [round(x) for x in v] for k, v in samples.items()}
    out["footprint_wrk"] = (f"wrk -t1 -c{connections} -d{seconds:g}s, {rounds} rounds "
                            "alternating the variants, medians")
    return out
