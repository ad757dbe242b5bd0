"""What a list of 1,000 load balancers costs the API, apart from the host it runs on.

The scale part measures lists through a real `nslb serve` beside 1,000 haproxies, where a
busy 2-core host can triple a wall-clock figure. This part measures the request itself: a
SQLite database with `--lbs` full trees (HTTP listener, ROUND_ROBIN pool of 2 members, HTTP
monitor: the scale part's shape) is built once through the in-process app and the noop
driver, then each collection is requested through the ASGI app in this process, and the
process CPU time of every request (every thread: the handler runs in anyio's pool) is
recorded beside its wall time. The process holds what a serving process holds (the trees of
every LB, as the health loop keeps them) and collects garbage as `nslb serve` does
(nslb/interpreter.py, where the checkout has it): full collections of that heap were the slow
tenth of the requests, so p90 is reported beside p50. The reference is GET of one load
balancer, measured the same way, so `lists_ratio_lbs_to_show` compares two requests of the
same build on the same host.

    python -m bench.lists                          (1,000 LBs, this checkout)
    python bench/lists.py --db DIR --against /work/main
                                                   (the same database read by another
                                                    checkout's code, for before/after)

Run as a script with `--against`, the measurement is repeated in a child process whose
`nslb` package comes from the other checkout (the database is only read).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

PROJECT = "bench"
PHYSNET = "physnet1:nsbsc-br0"
CIDR = "10.233.0.0/16"
BACKENDS = ("10.233.255.1", "10.233.255.2")
# path -> key of the figure; `{pool}` and `{lb}` are filled from the database
REQUESTS = (("lbs", "/v2/lbaas/loadbalancers?limit=1000"),
            ("listeners", "/v2/lbaas/listeners?limit=1000"),
            ("pools", "/v2/lbaas/pools?limit=1000"),
            ("healthmonitors", "/v2/lbaas/healthmonitors?limit=1000"),
            ("members", "/v2/lbaas/pools/{pool}/members"),
            ("show", "/v2/lbaas/loadbalancers/{lb}"))


def _tree(subnet: str, index: int) -> dict[str, Any]:
    pool = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": a, "protocol_port": 8080} for a in BACKENDS],
            "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3}}
    return {"loadbalancer": {
        "vip_subnet_id": subnet, "name": f"sc{index}",
        "listeners": [{"protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "web"}}],
        "pools": [pool]}}


def build(state: Path, count: int) -> float:
    """`count` LB trees in `state`/nslb.db, all ACTIVE; seconds it took."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from nslb.amphora.noop import NoopDriver
    from nslb.api.app import create_app
    from nslb.config import Settings
    from nslb.db.engine import Database
    from nslb.db.migrate import upgrade
    from nslb.secrets.store import SecretStore
    from nslb.worker.loop import Worker

    started = time.perf_counter()
    db = Database(f"sqlite:///{state / 'nslb.db'}")
    upgrade(db)
    worker = Worker(db, NoopDriver(), resync_interval=3600,
                    secrets=SecretStore.open(db, state))
    app = create_app(Settings(state_dir=state, physnet=[PHYSNET]), db)
    try:
        with TestClient(app, headers={"X-Project-Id": PROJECT}) as api:
            net = api.post("/networking/v2.0/networks", json={"network": {
                "name": "sc", "provider:network_type": "flat",
                "provider:physical_network": "physnet1"}}).json()["network"]
            subnet = api.post("/networking/v2.0/subnets", json={"subnet": {
                "network_id": net["id"], "cidr": CIDR, "ip_version": 4,
                "gateway_ip": None}}).json()["subnet"]["id"]
            for i in range(count):
                api.post("/v2/lbaas/loadbalancers", json=_tree(subnet, i)).raise_for_status()
                if i % 100 == 99:
                    worker.drain()
            worker.drain()
    finally:
        worker.stop()
        db.dispose()
    return time.perf_counter() - started


async def _sample(app: Any, path: str, rounds: int) -> tuple[list[float], float, bytes]:
    """Process CPU ms of each of `rounds` GETs of `path` (sorted), p50 of their wall ms,
    and the body."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    cpu, wall = [], []
    body = b""
    async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                 headers={"X-Project-Id": PROJECT}) as api:
        for _ in range(3):  # warm: statement caches, the thread pool
            (await api.get(path)).raise_for_status()
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            r = await api.get(path)
            c1, w1 = time.process_time(), time.perf_counter()
            r.raise_for_status()
            body = r.content
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
    return sorted(cpu), statistics.median(wall), body


def _serving_process(db: Any) -> Any:
    """Make this process hold and collect what `nslb serve` does: the trees of every LB
    (returned: keep them referenced) and, where the checkout has it, the serve's garbage
    collection settings."""
    from sqlalchemy import select

    from nslb.db.tables import load_balancer
    from nslb.db.tree import load_trees

    with db.read() as session:
        trees = load_trees(session, list(session.scalars(select(load_balancer.c.id))))
        session.expunge_all()
    try:
        from nslb import interpreter  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # a checkout from before nslb/interpreter.py: CPython's defaults
        return trees
    interpreter.tune_for_serving()
    return trees


def measure(state: Path, rounds: int,
            digests: dict[str, str] | None = None) -> dict[str, Any]:
    """Every request of REQUESTS against the database in `state` (only read); the sha256
    of each response body goes to `digests` (the same bytes before and after a change)."""
    from sqlalchemy import select

    from nslb.api.app import create_app
    from nslb.config import Settings
    from nslb.db.engine import Database
    from nslb.db.tables import load_balancer, pool

    db = Database(f"sqlite:///{state / 'nslb.db'}")
    try:
        with db.read() as session:
            lb_id = session.scalar(select(load_balancer.c.id).limit(1))
            pool_id = session.scalar(select(pool.c.id).limit(1))
            lbs = len(session.execute(select(load_balancer.c.id)).all())
        app = create_app(Settings(state_dir=state, physnet=[PHYSNET]), db)
        held = _serving_process(db)
        out: dict[str, Any] = {"lists_lbs": lbs, "lists_trees_held": len(held)}
        for key, template in REQUESTS:
            path = template.format(lb=lb_id, pool=pool_id)
            cpu, wall, body = asyncio.run(_sample(app, path, rounds * (4 if key == "show"
                                                                       else 1)))
            out[f"lists_{key}_cpu_ms_p50"] = round(statistics.median(cpu), 2)
            out[f"lists_{key}_cpu_ms_p90"] = round(cpu[int(0.9 * (len(cpu) - 1))], 2)
            out[f"lists_{key}_wall_ms_p50"] = round(wall, 2)
            out[f"lists_{key}_bytes"] = len(body)
            if digests is not None:
                digests[key] = hashlib.sha256(body).hexdigest()
        out["lists_ratio_lbs_to_show"] = round(out["lists_lbs_cpu_ms_p50"]
                                               / out["lists_show_cpu_ms_p50"], 1)
        return out
    finally:
        db.dispose()


def against(state: Path, checkout: str, rounds: int) -> dict[str, Any]:
    """measure() run by another checkout's `nslb` package, in a child process: its
    figures and the digests of its response bodies."""
    env = {**os.environ, "PYTHONPATH": checkout}
    done = subprocess.run([sys.executable, __file__, "--db", str(state), "--measure-only",
                           "--rounds", str(rounds)], env=env, capture_output=True, text=True,
                          check=True, timeout=600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result  # {"figures": ..., "digests": ...}


def run(quick: bool) -> dict[str, Any]:
    """The `lists` part of bench.run: 200 LBs in quick mode, 1,000 in full mode."""
    with tempfile.TemporaryDirectory(prefix="nsb-lists-") as tmp:
        state = Path(tmp)
        built = build(state, 200 if quick else 1000)
        out = measure(state, 10 if quick else 30)
        out["lists_build_s"] = round(built, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lbs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--db", help="state dir of a database built before (kept)")
    parser.add_argument("--against", help="another checkout: measure its code too")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        digests: dict[str, str] = {}
        figures = measure(Path(args.db), args.rounds, digests)
        print(json.dumps({"figures": figures, "digests": digests}))
        return
    with tempfile.TemporaryDirectory(prefix="nsb-lists-") as tmp:
        state = Path(args.db or tmp)
        if not (state / "nslb.db").exists():
            state.mkdir(parents=True, exist_ok=True)
            print(f"built {args.lbs} LB trees in {build(state, args.lbs):.1f} s", flush=True)
        mine: dict[str, str] = {}
        results: dict[str, Any] = {"this": measure(state, args.rounds, mine)}
        if args.against:
            other = against(state, args.against, args.rounds)
            results["against"] = other["figures"]
            results["this_over_against_cpu"] = {
                f"{key}_{q}": round(results["this"][f"lists_{key}_cpu_ms_{q}"]
                                    / other["figures"][f"lists_{key}_cpu_ms_{q}"], 2)
                for key, _ in REQUESTS for q in ("p50", "p90")}
            results["same_bodies"] = {key: mine[key] == other["digests"][key]
                                      for key, _ in REQUESTS}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if __package__ in (None, ""):  # run as a script: the checkout's root, after PYTHONPATH
        sys.path.append(str(Path(__file__).resolve().parent.parent))
        sys.path.remove(str(Path(__file__).resolve().parent))
    main()
