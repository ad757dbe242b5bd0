"""The same 1,000 load balancers served in turn by two checkouts: an A/B at rest.

On a shared host the scale part's wall-clock figures move with the other jobs, so a change
is judged on one set of LBs: they are created once (namespace driver, the scale part's
tree), then `nslb serve` is restarted on the same state dir from this checkout, the other
one, and this one again; after `--settle` seconds at rest each records idle CPU over three
20 s windows, list-all and show p50, haproxy PSS per LB, and then three more LBs created
one by one (POST -> the VIP answers 200; each stays, so the count grows by three). Both
checkouts must be at the same migration head (the database is upgraded by whichever starts
first).

    python -m bench.scale_ab --against /path/to/other/checkout [--lbs 1000] [--settle 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import scale
from bench.env import (
    CLIENT_IP,
    DEFAULT_HM,
    PREFIX,
    SUBNET,
    Env,
    backend_ip,
    stop_daemons,
    tree,
)
from bench.lab import lab
from bench.server import NSLB, client, free_port, make_network, purge_dataplane, stop

THIS = str(Path(__file__).resolve().parent.parent)


def _serve(state: str, url: str, bridge: str, checkout: str) -> subprocess.Popen[bytes]:
    log = open(os.path.join(state, "serve.log"), "a")  # noqa: SIM115  (the child's)
    proc = subprocess.Popen([NSLB, "serve", "--amphora-driver", "namespace", "--state-dir",
                             state, "--bind", url.removeprefix("http://"), "--physnet",
                             f"physnet1:{bridge}", "--auth", "noauth", "--log-level", "INFO"],
                            stdout=log, stderr=log, cwd=checkout,
                            env={**os.environ, "PYTHONPATH": checkout})
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(url + "/", timeout=1)
            return proc
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"nslb serve from {checkout} did not start: "
                                   f"see {state}/serve.log") from None
            time.sleep(0.2)


def _at_rest(env: Env, label: str, pid: int, body: dict[str, Any]) -> dict[str, Any]:
    idle = [round(scale.idle_cpu(pid, 20.0)[0], 2) for _ in range(3)]
    one_more = [round(scale._one_more(env, body)) for _ in range(3)]
    first = env.api.get("/v2/lbaas/loadbalancers?limit=1").json()["loadbalancers"][0]["id"]
    mem = scale.memory(env)
    lbs = len(env.api.get("/v2/lbaas/loadbalancers?limit=1000&fields=id").json()[
        "loadbalancers"])
    return {"code": label, "loadavg": round(os.getloadavg()[0], 1), "idle_cpu_pct": idle,
            "list_all_ms_p50": round(scale._timed(env, "/v2/lbaas/loadbalancers?limit=1000",
                                                  20), 1),
            "show_ms_p50": round(scale._timed(env, f"/v2/lbaas/loadbalancers/{first}", 50), 2),
            "pss_mb_per_lb": round(mem["pss_mb"] / max(1, lbs), 3), "lbs": lbs,
            "create_to_serving_ms": one_more}


@dataclass
class Held:
    """LBs kept up on a lab while `nslb serve` is restarted from one checkout or another."""

    env: Env
    body: dict[str, Any]  # the tree each LB was created with
    proc: subprocess.Popen[bytes]
    bridge: str

    def restart(self, checkout: str) -> None:
        """Stop `nslb serve` and start it from `checkout` on the same state dir."""
        stop(self.proc)
        self.proc = _serve(self.env.state_dir, self.env.url, self.bridge, checkout)
        self.env.serve_pid = self.proc.pid


@contextmanager
def held_lbs(count: int, tag: str) -> Iterator[Held]:
    """A lab, `nslb serve` from this checkout, and `count` LBs of the scale part's tree
    (added 250 at a time, as the scale part grows); everything is deleted and purged on
    the way out, whichever serve runs then."""
    state = tempfile.mkdtemp(prefix=f"nsb-{tag}-", dir="/tmp")
    url = f"http://127.0.0.1:{free_port()}"
    with lab() as lb, tempfile.TemporaryDirectory(prefix=f"nsb-{tag}w-") as work:
        client_ns = lb.host("cl", f"{CLIENT_IP}/{PREFIX}")
        probe = lb.python(client_ns, "bench.probe")
        proc = _serve(state, url, lb.bridge, THIS)
        env = Env(lab=lb, api=client(url), url=url, serve_pid=proc.pid, state_dir=state,
                  subnet="", client_ns=client_ns, probe=probe, workdir=Path(work))
        held = Held(env, {}, proc, lb.bridge)
        try:
            env.subnet = make_network(env.api, "physnet1", SUBNET)
            for i in range(2):
                env.backend(backend_ip(i))
            time.sleep(0.3)
            held.body = tree(env.subnet, list(env.backends)[:2], DEFAULT_HM)
            for start in range(0, count, 250):
                scale._add(env, min(250, count - start), held.body)
            yield held
        finally:
            stop_daemons(env.daemons)
            try:
                env.delete_all(timeout=900)
            finally:
                stop(held.proc)
                purge_dataplane(state)
                subprocess.run(["rm", "-rf", state], check=False)


def run(other: str, count: int, settle: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with held_lbs(count, "ab") as held:
        for n, (checkout, label) in enumerate(((THIS, "this"), (other, "other"),
                                               (THIS, "this"))):
            if n:  # the first serve is this checkout's, which created the LBs
                held.restart(checkout)
            time.sleep(settle)
            rows.append(_at_rest(held.env, label, held.proc.pid, held.body))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="the other checkout's root")
    parser.add_argument("--lbs", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=200.0,
                        help="seconds at rest after each start (the first resyncs)")
    args = parser.parse_args()
    print(json.dumps(run(args.against, args.lbs, args.settle), indent=2))


if __name__ == "__main__":
    main()
