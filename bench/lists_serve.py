"""A list of N load balancers through a real, loaded `nslb serve`: latency and serve CPU
per list, this checkout against another, alternating, in one session.

bench/lists.py measures the request in-process (CPU of the handler alone). This one
measures what a client sees: one database of N full trees (HTTP listener, pool of 2
members, HTTP monitor; the scale part's shape; noop driver, so no root) is built once by
the reference checkout's code and copied, then each checkout's `nslb serve` runs on its
copy (the newer one upgrades it on start). Both serves run for the whole session, so the
background work of each (worker, health loop over N LBs) loads the host alike. For each
load level L (concurrent keep-alive connections), wrk requests `GET
/v2/lbaas/loadbalancers?limit=1000` for `--seconds` from L connections against one serve,
then the other; the order alternates each round. Each serve is first left to come to rest
(on start it reconciles and observes every LB once). Recorded per run: wrk's p50/p90
latency, lists per second, and the serve's CPU per list (its process CPU over the run,
less its idle CPU rate measured just before, over the lists served). Figures are medians
over the rounds, and ratios this / reference.

    python -m bench.lists_serve --against /path/to/reference/checkout
                                [--lbs 1000] [--loads 1,4,8] [--rounds 3] [--seconds 8]
                                [--out bench/results/lists-serve.json]

Without `--against` only this checkout is measured. The reference checkout needs
bench/lists.py (its `build`) and an `nslb serve` with `--amphora-driver noop`. Use a copy
made with `git archive <rev> | tar -x -C DIR` rather than a live work tree: the serve is
started with the checkout as its working directory and Python writes bytecode there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.server import stop

THIS = str(Path(__file__).resolve().parent.parent)
PROJECT = "bench"  # bench/lists.py builds its trees in this project
PHYSNET = "physnet1:nsbsc-br0"
PATH = "/v2/lbaas/loadbalancers?limit=1000"
TICK = os.sysconf("SC_CLK_TCK")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _env(checkout: str) -> dict[str, str]:
    """This environment less NSLB_* (a developer's NSLB_DB must not reach the serve), with
    `checkout` first on the import path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSLB_")}
    env["PYTHONPATH"] = checkout
    return env


def build(state: Path, lbs: int, checkout: str) -> float:
    """`lbs` trees in `state`/nslb.db, written by `checkout`'s code; seconds taken."""
    code = ("import sys; from pathlib import Path; from bench.lists import build; "
            "print(build(Path(sys.argv[1]), int(sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", code, str(state), str(lbs)], cwd=checkout,
                          env=_env(checkout), capture_output=True, text=True, check=False,
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"building {lbs} LBs with {checkout} failed: {done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(state: Path, checkout: str, extra: tuple[str, ...] = ()) -> Iterator[tuple[str, int]]:
    """(base url, pid) of `checkout`'s `nslb serve` on `state`, stopped afterwards."""
    url = f"http://127.0.0.1:{_free_port()}"
    log = open(state / "serve.log", "a")  # noqa: SIM115  (the child's)
    code = "import sys; from nslb.cli.main import app; sys.argv[0] = 'nslb'; sys.exit(app())"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--amphora-driver", "noop",
                             "--state-dir", str(state), "--bind", url.removeprefix("http://"),
                             "--physnet", PHYSNET, "--auth", "noauth", "--log-level",
                             "WARNING", *extra],
                            stdout=log, stderr=log, cwd=checkout, env=_env(checkout))
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx.get(url + "/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"nslb serve from {checkout} did not start: "
                                       f"see {state}/serve.log") from None
                time.sleep(0.2)
        yield url, proc.pid
    finally:
        stop(proc)
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid`, every thread."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def settle(pid: int, most_s: float, below_pct: float = 10.0) -> float:
    """Wait until the serve is at rest (its CPU over 2 s under `below_pct` of a core: on
    start it reconciles and observes every LB once), at most `most_s`; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < most_s:
        c0 = cpu_seconds(pid)
        time.sleep(2.0)
        if 100 * (cpu_seconds(pid) - c0) / 2.0 < below_pct:
            break
    return round(time.monotonic() - started, 1)


def check(url: str, lbs: int) -> str:
    """The list answers with every LB; a digest of its items less `updated_at`.

    Each serve runs on its own copy of the database and stamps `updated_at` of every LB
    when its loops first observe them, so the two copies differ in that field alone;
    byte-identical bodies from one database are bench/lists.py's check (`--against`)."""
    import hashlib

    r = httpx.get(url + PATH, headers={"X-Project-Id": PROJECT}, timeout=60)
    r.raise_for_status()
    items = r.json()["loadbalancers"]
    if len(items) != min(lbs, 1000):
        raise RuntimeError(f"{url} listed {len(items)} load balancers, not {min(lbs, 1000)}")
    for item in items:
        del item["updated_at"]
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def parse_wrk(out: str) -> dict[str, float]:
    """Requests, seconds, errors and the p50/p90/p99 latency (ms) of a `wrk --latency`."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if total is None:
        raise RuntimeError(f"unexpected wrk output: {out!r}")
    got: dict[str, float] = {"requests": int(total.group(1)),
                             "seconds": float(total.group(2)) * UNITS[total.group(3)] / 1000}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s*{pct}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m is None:
            raise RuntimeError(f"no {pct}% latency in wrk output: {out!r}")
        got[f"p{pct}_ms"] = float(m.group(1)) * UNITS[m.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    got["errors"] = (sum(int(g) for g in errors.groups()) if errors else 0) + (
        int(non2xx.group(1)) if non2xx else 0)
    return got


def run_once(url: str, pid: int, load: int, seconds: float, idle_s: float) -> dict[str, Any]:
    """One wrk run of `load` connections against one serve, with the serve's CPU."""
    c0 = cpu_seconds(pid)
    time.sleep(idle_s)
    idle_rate = (cpu_seconds(pid) - c0) / idle_s
    c1, w1 = cpu_seconds(pid), time.monotonic()
    done = subprocess.run(["wrk", "-t1", f"-c{load}", f"-d{max(1, round(seconds))}s",
                           "--timeout", "10s", "--latency", "-H", f"X-Project-Id: {PROJECT}",
                           url + PATH], capture_output=True, text=True, check=False,
                          timeout=seconds + 60)
    c2, w2 = cpu_seconds(pid), time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip()}")
    got = parse_wrk(done.stdout)
    lists = max(int(got["requests"]), 1)
    got["lists_per_s"] = round(lists / got["seconds"], 1)
    got["cpu_ms_per_list"] = round(1000 * (c2 - c1) / lists, 2)
    got["cpu_ms_per_list_net"] = round(1000 * max(c2 - c1 - idle_rate * (w2 - w1), 0)
                                       / lists, 2)
    got["idle_cpu_pct"] = round(100 * idle_rate, 1)
    got["loadavg"] = round(os.getloadavg()[0], 1)
    return got


FIGURES = ("p50_ms", "p90_ms", "p99_ms", "lists_per_s", "cpu_ms_per_list",
           "cpu_ms_per_list_net")


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {f: round(statistics.median(r[f] for r in runs), 2)
                           for f in FIGURES}
    out["errors"] = sum(int(r["errors"]) for r in runs)
    out["lists"] = sum(int(r["requests"]) for r in runs)
    return out


def measure(servers: dict[str, tuple[str, int]], loads: list[int], rounds: int,
            seconds: float, idle_s: float) -> dict[str, Any]:
    """Every load level against every serve, `rounds` times, the serve order alternating."""
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {
        name: {load: [] for load in loads} for name in servers}
    names = list(servers)
    for r in range(rounds):
        for load in loads:
            for name in (names if r % 2 == 0 else names[::-1]):
                url, pid = servers[name]
                got = run_once(url, pid, load, seconds, idle_s)
                runs[name][load].append(got)
                print(f"round {r + 1} load {load} {name}: p50 {got['p50_ms']:.1f} ms, "
                      f"p90 {got['p90_ms']:.1f} ms, {got['cpu_ms_per_list']:.1f} ms CPU/list, "
                      f"load average {got['loadavg']}", file=sys.stderr, flush=True)
    return {"runs": runs,
            "summary": {name: {str(load): summary(runs[name][load]) for load in loads}
                        for name in servers}}


def ratios(result: dict[str, Any], loads: list[int]) -> dict[str, Any]:
    """this / reference for each figure of each load level."""
    this, ref = result["summary"]["this"], result["summary"]["reference"]
    return {str(load): {f: round(this[str(load)][f] / ref[str(load)][f], 2)
                        for f in FIGURES if ref[str(load)][f]}
            for load in loads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="reference checkout (e.g. a `git archive` of main)")
    parser.add_argument("--lbs", type=int, default=1000)
    parser.add_argument("--loads", default="1,4,8",
                        help="concurrent keep-alive connections, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="one wrk run")
    parser.add_argument("--idle", type=float, default=2.0,
                        help="seconds of the serve's idle CPU measured before each run")
    parser.add_argument("--settle", type=float, default=180.0,
                        help="at most this long for each serve to come to rest after start")
    parser.add_argument("--this-arg", action="append", default=[],
                        help="an extra `nslb serve` argument for this checkout's serve")
    parser.add_argument("--out", help="write the JSON here too")
    args = parser.parse_args()
    loads = [int(x) for x in args.loads.split(",")]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nsb-listserve-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        built = build(base, args.lbs, args.against or THIS)
        print(f"built {args.lbs} LB trees in {built:.0f} s", file=sys.stderr, flush=True)
        checkouts = {"this": THIS, **({"reference": args.against} if args.against else {})}
        with ExitStack() as stack:
            servers = {}
            for name, checkout in checkouts.items():
                state = Path(tmp) / name
                shutil.copytree(base, state)
                extra = tuple(args.this_arg) if name == "this" else ()
                servers[name] = stack.enter_context(serve(state, checkout, extra))
            settled = {name: settle(pid, args.settle) for name, (_, pid) in servers.items()}
            digests = {name: check(url, args.lbs) for name, (url, _) in servers.items()}
            for url, _ in servers.values():  # warm: statement caches, the views
                for _ in range(3):
                    check(url, args.lbs)
            result: dict[str, Any] = {
                "lbs": args.lbs, "loads": loads, "rounds": args.rounds,
                "seconds": args.seconds, "path": PATH, "cores": os.cpu_count(),
                "same_items_but_updated_at": len(set(digests.values())) == 1, "settled_s": settled,
                "checkouts": checkouts, "this_args": args.this_arg,
                **measure(servers, loads, args.rounds, args.seconds, args.idle)}
    if args.against:
        result["this_over_reference"] = ratios(result, loads)
    result["took_s"] = round(time.monotonic() - started)
    text = json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
