"""Run the benchmarks and write bench/results/latest.json plus a readable table.

    python -m bench.run --quick     (under 5 minutes)
    python -m bench.run --full
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api, dataplane

RESULTS = Path(__file__).parent / "results"
# Octavia's own API with noop drivers on a 2-core machine (figures quoted in the issues).
OCTAVIA_REFERENCE = {"api_create_lb_active_ms_p50": 470.0,
                     "api_lb_tree_step_by_step_ms_p50": 2000.0,
                     "api_list_200_lbs_ms_p50": 64.0}


def machine() -> dict[str, Any]:
    haproxy = subprocess.run(["haproxy", "-v"], capture_output=True, text=True, check=False)
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "kernel": platform.release(),
            "haproxy": haproxy.stdout.splitlines()[0] if haproxy.stdout else "absent"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--only", choices=["api", "dataplane"])
    quick = not parser.parse_args().full
    only = parser.parse_args().only
    started = time.monotonic()
    figures: dict[str, Any] = {}
    if only is not None and (RESULTS / "latest.json").exists():  # refresh a part only
        figures.update(json.loads((RESULTS / "latest.json").read_text())["figures"])
    if only in (None, "api"):
        figures.update(api.run(quick))
    if only in (None, "dataplane"):
        figures.update(dataplane.run(quick))
    ratios = {f"{k}_vs_octavia": round(v / figures[k], 1)
              for k, v in OCTAVIA_REFERENCE.items() if figures.get(k)}
    out = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
           "mode": "quick" if quick else "full", "machine": machine(),
           "figures": figures, "speedup_vs_octavia_reference": ratios,
           "wall_s": round(time.monotonic() - started, 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'figure':40} value")
    for key, value in {**figures, **ratios}.items():
        print(f"{key:40} {value}")
    print(f"machine: {out['machine']}")


if __name__ == "__main__":
    main()
