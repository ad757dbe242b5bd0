"""Run the benchmarks and write bench/results/latest.json plus a readable table.

    python -m bench.run --quick     (under 5 minutes)
    python -m bench.run --full      (up to 20 minutes)
    python -m bench.run --quick --only throughput,reload    (refresh some parts only)

Parts: api and lists (noop driver), heartbeats (one health manager's receiver, no root)
and dataplane = serving, throughput, reload, health, failover, tls, footprint, scale
(namespace driver, root). Ctrl-C or SIGTERM still removes every bridge, namespace and
process the run made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import api, dataplane, heartbeats, lists

RESULTS = Path(__file__).parent / "results"
# Octavia's own API with noop drivers on a 2-core machine (figures quoted in the issues).
OCTAVIA_REFERENCE = {"api_create_lb_active_ms_p50": 470.0,
                     "api_lb_tree_step_by_step_ms_p50": 2000.0,
                     "api_list_200_lbs_ms_p50": 64.0}
# The data-plane targets compare equal work: the reference logs nothing, so nslb's VIP is
# measured with its access log off too; the default (logging on) is reported beside it.
TARGETS = {"dataplane_ratio_keepalive_nologs": ">= 0.97",
           "dataplane_ratio_newconn_nologs": ">= 0.97",
           "reload_failed_requests": "0", "reload_failed_requests_newconn": "0",
           "vrrp_takeover_ms_p50": "< 1000", "single_amphora_rebuild_ms_p50": "< 3000",
           "as_failover_failed_requests_newconn": "0",
           "scale_health_round_ms_p50": "< 1000", "scale_health_round_ms_max": "< 1000",
           "scale_create_to_serving_ms": "< 300", "scale_list_all_ms_p50": "< 25",
           "scale_idle_cpu_pct": "< 10",
           "scale_member_down_detect_ms": "as on an empty host (member_down_detect_ms)",
           "tls_ratio_handshake": ">= 0.97",
           "tls_ratio_keepalive_nslb_nologs": ">= 0.97 (neither logs)",
           "tls_ratio_keepalive_like_for_like_logs": ">= 0.97 (both log every request)",
           "tls_rotation_failed_requests": "0", "tls_rotation_reloads": "0",
           "heartbeat_capacity_ratio": ">= 1 (10,000 amphorae at 1 s on one core)"}
# Figures of the scale part before it grew to 1,000 LBs (dropped when it is refreshed).
LEGACY_SCALE = frozenset({"create_200_lbs_s", "create_200_lbs_post_s", "create_50_lbs_s",
                          "create_50_lbs_post_s", "rss_mb_per_lb", "pss_mb_per_lb",
                          "haproxy_processes", "control_plane_rss_mb",
                          "control_plane_rss_mb_idle", "delete_200_lbs_s", "delete_50_lbs_s",
                          "haproxy_left_after_delete", "lb_dirs_left_after_delete"})
# Columns of the scale part's table, one row per step (bench/scale.py).
SCALE_COLUMNS = (("lbs", "LBs"), ("add_s_per_lb", "s/LB adding"),
                 ("create_to_serving_ms", "+1 LB→200 ms"),
                 ("health_round_ms_p50", "round p50 ms"), ("health_round_ms_max", "max ms"),
                 ("list_all_ms_p50", "list ms"), ("show_ms_p50", "show ms"),
                 ("idle_cpu_pct", "idle CPU %"), ("idle_cpu_children_pct", "children %"),
                 ("pss_mb_per_lb", "PSS MB/LB"), ("serve_rss_mb", "serve RSS MB"))
GROUPS = (("control plane (noop driver)", ("api_",)),
          ("lists, in-process (noop driver, CPU per request)", ("lists_",)),
          ("create to serving (namespace driver)", ("create_to_serving",)),
          ("data plane: nslb VIP vs minimal haproxy", ("dataplane_", "backend")),
          ("reloads under load", ("reload_",)),
          ("health", ("member_",)),
          ("failover", ("vrrp_", "single_amphora", "as_", "pss_mb_per_as")),
          ("TLS: nslb TERMINATED_HTTPS vs hand-written haproxy; rotations", ("tls_",)),
          ("one LB's haproxy memory: nbthread 1, lower maxconn", ("footprint_",)),
          ("scale", ("scale_",)),
          ("heartbeats: one receiver and its store", ("heartbeat_",)))


def machine() -> dict[str, Any]:
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True, check=False)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(),
            "haproxy": haproxy.stdout.splitlines()[0] if haproxy.stdout else "absent",
            "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr)
            else "absent",
            "loadavg_at_start": os.getloadavg()[0]}


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_parts(only: str | None) -> tuple[str, ...]:
    if only is None:
        return ("api", "lists", "heartbeats", *dataplane.PARTS)
    parts: list[str] = []
    for name in only.split(","):
        if name == "dataplane":
            parts.extend(dataplane.PARTS)
        elif name in ("api", "lists", "heartbeats") or name in dataplane.PARTS:
            parts.append(name)
        else:
            raise SystemExit(f"unknown part {name!r}: api, lists, heartbeats, dataplane, "
                             f"{', '.join(dataplane.PARTS)}")
    return tuple(dict.fromkeys(parts))


def table(out: dict[str, Any]) -> str:
    figures = {**out["figures"], **out["speedup_vs_octavia_reference"]}
    lines = [f"nslb benchmarks, {out['mode']} mode, {out['date']}, {out['wall_s']} s",
             "machine: " + ", ".join(f"{k} {v}" for k, v in out["machine"].items())]
    seen: set[str] = {"scale_steps"}
    for title, prefixes in GROUPS:
        keys = [k for k in figures if k.startswith(prefixes) and k not in seen]
        if not keys:
            continue
        lines.append(f"\n{title}")
        if title == "scale" and figures.get("scale_steps"):
            lines.extend(scale_table(figures["scale_steps"]))
        for key in keys:
            seen.add(key)
            target = f"   (target {TARGETS[key]})" if key in TARGETS else ""
            lines.append(f"  {key:44} {figures[key]}{target}")
    rest = [k for k in figures if k not in seen]
    if rest:
        lines.append("\nother")
        lines.extend(f"  {key:44} {figures[key]}" for key in rest)
    return "\n".join(lines)


def scale_table(rows: list[dict[str, Any]]) -> list[str]:
    """The scale part's steps as a table (one line per LB count)."""
    widths = [max(len(title), 6) for _, title in SCALE_COLUMNS]
    lines = ["  " + "  ".join(title.rjust(w) for (_, title), w in zip(SCALE_COLUMNS, widths,
                                                                      strict=True))]
    for row in rows:
        cells = ["-" if row.get(key) is None else str(row[key]) for key, _ in SCALE_COLUMNS]
        lines.append("  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--only", help="comma-separated parts (default: all)")
    args = parser.parse_args()
    quick = not args.full
    parts = parse_parts(args.only)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    facts = machine()
    figures: dict[str, Any] = {}
    configs: dict[str, str] = {}
    previous: dict[str, Any] = {}
    if args.only is not None and (RESULTS / "latest.json").exists():  # refresh a part only
        previous = json.loads((RESULTS / "latest.json").read_text())
        figures.update(previous.get("figures", {}))
        if "scale" in parts:  # what the scale part recorded before it grew to 1,000 LBs
            for key in [k for k in figures if k in LEGACY_SCALE or k.startswith("scale_")]:
                del figures[key]
        configs.update(previous.get("haproxy_configs", {}))
    if "api" in parts:
        figures.update(api.run(quick))
    if "lists" in parts:
        figures.update(lists.run(quick))
    if "heartbeats" in parts:
        figures.update(heartbeats.run(quick))
    dp = tuple(part for part in parts if part in dataplane.PARTS)
    if dp:
        figures.update(dataplane.run(quick, dp, configs))
    ratios = {f"{k}_vs_octavia": round(v / figures[k], 1)
              for k, v in OCTAVIA_REFERENCE.items() if figures.get(k)}
    out = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
           "mode": "quick" if quick else "full", "parts": list(parts), "machine": facts,
           "figures": figures, "speedup_vs_octavia_reference": ratios,
           "haproxy_configs": configs,
           "wall_s": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(table(out))


if __name__ == "__main__":
    main()
