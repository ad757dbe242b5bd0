"""Placement: how long the scheduler takes for one amphora, and for the pair of an
ACTIVE_STANDBY load balancer, against many hosts already holding many amphorae.

    python -m bench.placement [--hosts 1000] [--amphorae 50000] [--rounds 200]

Issue 11's target: one amphora against 1,000 hosts and 50,000 existing amphorae in under
10 ms. The hosts sit in 4 zones, half of them in an `ssd=true` aggregate, and the flavor
asks for ssd, so every filter runs on every host. Also reported: building the host states
from the amphora list (what a caller does once per decision from the database), and the
reference: one bare pass over the same hosts (min() of their load), to read the
scheduler's cost as a ratio on a noisy machine. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

from nslb.placement.scheduler import Scheduler
from nslb.placement.state import ComputeFlavor, HostState, Request, Resources

FLAVOR = ComputeFlavor("gold", memory_mb=64, connections=1000,
                       extra_specs={"aggregate_instance_extra_specs:ssd": "true"})


def _hosts(count: int, per_host: Counter[str]) -> list[HostState]:
    cap = Resources(amphorae=200, memory_mb=64 * 200, connections=1000 * 200)
    out = []
    for i in range(count):
        name = f"host-{i:04}"
        used = per_host[name]
        out.append(HostState(
            id=name, name=name, up=i % 50 != 0, capacity=cap,
            used=Resources(used, 64 * used, 1000 * used), zone=f"az{i % 4}",
            metadata={"ssd": frozenset({"true" if i % 2 else "false"})}))
    return out


def _ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(hosts: int, amphorae: int, rounds: int) -> dict[str, float]:
    rng = random.Random(7)
    placed = [f"host-{rng.randrange(hosts):04}" for _ in range(amphorae)]
    build_ms = _ms(lambda: _hosts(hosts, Counter(placed)), max(rounds // 20, 3))
    states = _hosts(hosts, Counter(placed))
    scheduler = Scheduler()
    one = Request("new", flavor=FLAVOR, zones=frozenset({"az1", "az3"}))
    pair = [Request("m", flavor=FLAVOR, zone_anti_affinity=True),
            Request("b", flavor=FLAVOR, zone_anti_affinity=True)]
    one_ms = _ms(lambda: scheduler.place(states, one), rounds)
    pair_ms = _ms(lambda: scheduler.place_group(states, pair), rounds)
    bare_ms = _ms(lambda: min(states, key=lambda h: h.used.amphorae), rounds)
    return {"placement_hosts": hosts, "placement_amphorae": amphorae,
            "placement_one_ms_p50": round(one_ms, 3),
            "placement_pair_ms_p50": round(pair_ms, 3),
            "placement_build_states_ms_p50": round(build_ms, 3),
            "placement_bare_pass_ms_p50": round(bare_ms, 3),
            "placement_ratio_one_to_bare_pass": round(one_ms / bare_ms, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--amphorae", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.hosts, args.amphorae, args.rounds), indent=2))


if __name__ == "__main__":
    main()
