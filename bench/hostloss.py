"""Host loss: a SINGLE LB serving again on another host, and an ACTIVE_STANDBY pair over
VXLAN keeping its VIP (issue 10's targets: SINGLE < 5 s end to end, detection included,
where Octavia takes its 60 s heartbeat timeout plus a VM boot; ACTIVE_STANDBY: only the
requests in flight during the VRRP takeover fail).

    python -m bench.hostloss [--runs 3] [--only single|pair] [--site two|multihost]   (root)

--site multihost (about 60 s a run, single part only) uses the multi-host tier's site
(tests/integration/multihost_site.py): three agent hosts, two controllers on a throwaway
PostgreSQL, an LB in zone edge on a VXLAN network, the client behind h3; the host serving
the LB dies (agent, amphorae and namespaces) and the LB is rebuilt on the other edge host.
The replacement's VIP gate drops a SYN until haproxy listens, so a client retries after
1 s and 3 s instead of being refused: the figure is what a client sees (each probe waits
2 s), not when haproxy started. Its figures go to bench/results/hostloss_multihost.json.

single: the site of tests/integration/hostfail_site.py (heartbeat timeout 2 s, agents
sending every second; two agent hosts with the physnet joined between them), a SINGLE LB
on host a serving a client on host b's side. kill -9 host a's agent and delete its
namespace; time until a request through the VIP is answered by the amphora rebuilt on
host b. `hostloss_single_serving_again_s` is the median, `hostloss_ratio` the target over
it (>= 1: within target).

pair: the site of tests/integration/vxlan_pair_site.py, an ACTIVE_STANDBY pair across two
agent hosts over a VXLAN network, the client and backend on the host of the amphora that
does not hold the VIP. A client loop (a new connection per request, 2 s timeout, one at a
time) runs for PAIR_BEFORE_S, then the VIP holder's host is lost as above, and the loop
runs PAIR_AFTER_S more. `hostloss_pair_failed_requests` per run (of about 10,000), and
`hostloss_pair_takeover_s`: from the namespace delete to the survivor's keepalived
recording MASTER. 2026-12-04 09:00 UTC on the shared 2-core machine (load 6-10): 1, 1
and 1 failed of 11,008, 11,614 and 9,971 requests (each the one in flight, reset); the
survivor took the VIP 0.39, 0.38 and 0.34 s after the host went (README, Performance,
"ACTIVE_STANDBY and failover").

Writes bench/results/hostloss.json (a run of one part keeps the other part's figures).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.integration.api_env import lab_tag
from tests.integration.conftest import Lab, wait_for
from tests.integration.hostfail_site import HEARTBEAT_TIMEOUT, Site
from tests.integration.vxlan_pair_site import PairSite, holds

TARGET_S = 5.0
PAIR_BEFORE_S = 8.0
PAIR_AFTER_S = 8.0
RESULTS = Path(__file__).parent / "results" / "hostloss.json"


def one_run() -> float:
    site = Site(Lab(tag=lab_tag()))
    try:
        site.start()
        _lb, client, vip_url = site.single_lb()
        return site.lose_a(client, vip_url)
    finally:
        lost = site.hosts["a"]
        if lost.ns not in site.lab.namespaces:
            lost.up()  # a host namespace again, where close() removes its stale amphora
        # host a's stale amphora is expected (its agent is not back): close() removes it
        problems = [p for p in site.close() if not p.endswith("left on host a")]
        if problems:
            raise SystemExit(f"left behind: {problems}")


def one_pair_run(stopfile: Path) -> dict[str, Any]:
    """(failed, total requests, takeover seconds) of one loss of the VIP holder's host."""
    site = PairSite(Lab(tag=lab_tag()))
    try:
        site.start()
        site.pair_lb()
        holder = site.settle()
        (survivor,) = [a for a in site.amphorae if a is not holder]
        client = site.plug_on(site.host_of(survivor))
        if not site.serves(4):
            raise SystemExit(f"the pair does not serve:\n{site.state()}")
        stopfile.unlink(missing_ok=True)
        loop = site.lab.start_loop(client, site.vip_url, stopfile)
        time.sleep(PAIR_BEFORE_S)
        lost_at = site.host_of(holder).lose()
        if not wait_for(lambda: holds(survivor["id"], site.vip)
                        and site.vrrp_state(survivor) == "MASTER", 10, 0.02):
            raise SystemExit(f"the survivor did not take the VIP:\n{site.state()}")
        takeover = site.vrrp_changed(survivor) - lost_at
        time.sleep(PAIR_AFTER_S)
        stopfile.touch()
        out, _ = loop.communicate(timeout=30)
        result = json.loads(out)
        return {"failed": len(result["errors"]), "total": result["ok"] + len(result["errors"]),
                "takeover_s": round(takeover, 3), "errors": result["errors"][:5]}
    finally:
        stopfile.unlink(missing_ok=True)
        problems = site.close()
        if problems:
            raise SystemExit(f"left behind: {problems}")


def one_multihost_run() -> float:
    """Seconds from the loss of the edge host serving an LB until the client behind h3
    is answered through the VIP from the other edge host."""
    from tests.integration.multihost_site import Site as MultiSite
    from tests.integration.multihost_site import wait_until

    site = MultiSite(heartbeat_timeout=HEARTBEAT_TIMEOUT)
    lost_name = ""
    try:
        site.open()
        # The LB on h2, so the replacement goes to h1. Written before placement counted a
        # silent host as down: the removed amphora's host is no longer avoided once its
        # row is gone, so with the LB on h1 its replacement went back to the dead h1
        # (see the README); losing h1 is not measured yet.
        h1, h2 = site.hosts["h1"], site.hosts["h2"]
        site.host_verb("drain", h1)
        site.wait_host(h1, "admin_state", "DRAINED")
        lb = site.create_lb("edge", "edge")
        site.host_verb("undrain", h1)
        site.wait_host(h1, "admin_state", "ACTIVE")
        site.wait_serving(lb)
        lost = site.host_of(lb["id"])
        assert lost is h2, lost
        lost_name = lost.name
        started = time.monotonic()
        lost.lose()
        wait_until(lambda: site.host_of(lb["id"]) not in (None, lost) and site.serves(lb),
                   lambda: site.diagnose("no service again"), timeout=60, interval=0.05)
        return time.monotonic() - started
    finally:
        # the lost host's stale amphora is expected (its agent is not back)
        problems = [p for p in site.close() if not p.endswith(f"left on {lost_name}")]
        if problems:
            raise SystemExit(f"left behind: {problems}")


def run_single(runs: int, site: str = "two") -> dict[str, Any]:
    once = one_multihost_run if site == "multihost" else one_run
    samples = [round(once(), 2) for _ in range(runs)]
    median = statistics.median(samples)
    return {"heartbeat_timeout_s": HEARTBEAT_TIMEOUT, "samples_s": samples,
            "hostloss_single_serving_again_s": median,
            "hostloss_target_s": TARGET_S, "hostloss_ratio": round(TARGET_S / median, 2)}


def run_pair(runs: int) -> dict[str, Any]:
    stopfile = Path(f"/tmp/nslb-bench-hostloss-{lab_tag()}.stop")
    samples = [one_pair_run(stopfile) for _ in range(runs)]
    return {"hostloss_pair_failed_requests": [s["failed"] for s in samples],
            "hostloss_pair_requests": [s["total"] for s in samples],
            "hostloss_pair_takeover_s": [s["takeover_s"] for s in samples],
            "hostloss_pair_takeover_median_s": statistics.median(
                s["takeover_s"] for s in samples),
            "hostloss_pair_errors_seen": sorted({e for s in samples for e in s["errors"]})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("single", "pair"),
                        help="run one part (default: both)")
    parser.add_argument("--site", choices=("two", "multihost"), default="two",
                        help="the single part's site (multihost: single part only)")
    args = parser.parse_args()
    if args.site == "multihost":
        text = json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"),
                           "site": "multihost", **run_single(args.runs, "multihost")},
                          indent=1)
        print(text)
        (RESULTS.parent / "hostloss_multihost.json").write_text(text + "\n")
        return
    try:
        results: dict[str, Any] = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        results = {}
    if "date" in results:  # a file written before the pair part existed
        results.setdefault("date_single", results.pop("date"))
    if args.only in (None, "single"):
        results.update(run_single(args.runs))
        results["date_single"] = datetime.now(UTC).isoformat(timespec="seconds")
    if args.only in (None, "pair"):
        results.update(run_pair(args.runs))
        results["date_pair"] = datetime.now(UTC).isoformat(timespec="seconds")
    text = json.dumps(results, indent=1)
    print(text)
    RESULTS.write_text(text + "\n")


if __name__ == "__main__":
    main()
