"""A host of many load balancers that stays up while `nslb serve` is restarted from any
checkout: for profiling and trying changes at scale without building 1,000 LBs each time.

It creates `--lbs` LBs (the scale part's tree) under `nslb serve` from this checkout, then
reads commands, one per line, from `--commands` (a file it creates; append to it):

    restart <checkout>   stop `nslb serve` and start it from that checkout's root
    measure <label>      idle CPU (three 20 s windows), list-all and show p50, three more
                         LBs created one by one (POST -> the VIP answers 200)
    threads <seconds>    CPU per thread of `nslb serve` over that long (needs py-spy for
                         the thread names: --py-spy)
    timeline <n>         n more LBs created one by one, each with its timeline: POST,
                         apply, the client's first ARP, SYN, SYN-ACK, 200 (bench/timeline.py)
    stop                 delete everything and leave

Each result is one JSON line on stdout. Everything it created goes on `stop`, on an error,
and on Ctrl-C.

    python -m bench.scale_lab --lbs 1000 --commands /tmp/scale-lab.cmd [--py-spy PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import scale, scale_ab, timeline

THREAD = re.compile(r'Thread (0x[0-9A-Fa-f]+|\d+) \((?:[^)]*)\): "([^"]+)"')


def _ticks(pid: int) -> dict[int, int]:
    """thread id -> utime+stime of each thread of `pid`, in clock ticks."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = int(fields[11]) + int(fields[12])
    return out


def _names(pid: int, py_spy: str | None) -> dict[int, str]:
    """native thread id -> Python thread name, as `py-spy dump` prints them."""
    if not py_spy:
        return {}
    text = subprocess.run([py_spy, "dump", "--pid", str(pid)], capture_output=True,
                          text=True, check=False).stdout
    out = {}
    for ident, name in THREAD.findall(text):
        out[int(ident, 0)] = name
    return out


def threads(pid: int, seconds: float, py_spy: str | None) -> dict[str, Any]:
    """% of one core per thread over `seconds`, the busiest first."""
    before = _ticks(pid)
    start = time.monotonic()
    time.sleep(seconds)
    after = _ticks(pid)
    wall = time.monotonic() - start
    names = _names(pid, py_spy)
    used = {tid: 100 * (after[tid] - before.get(tid, 0)) / scale.TICK / wall for tid in after}
    rows = sorted(used.items(), key=lambda kv: -kv[1])
    return {"total_pct": round(sum(used.values()), 1),
            "threads": [[names.get(tid, str(tid)), round(pct, 1)] for tid, pct in rows
                        if pct > 0.05]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lbs", type=int, default=1000)
    parser.add_argument("--commands", required=True, help="the file commands are read from")
    parser.add_argument("--py-spy", default=None, help="py-spy's path, for thread names")
    args = parser.parse_args()
    commands = Path(args.commands)
    commands.write_text("")
    with scale_ab.held_lbs(args.lbs, "lab") as held:
        print(json.dumps({"ready": args.lbs, "state": held.env.state_dir}), flush=True)
        done = 0
        while True:
            lines = commands.read_text().splitlines()
            if len(lines) <= done:
                time.sleep(1.0)
                continue
            word, _, rest = lines[done].strip().partition(" ")
            done += 1
            if word == "stop":
                break
            if word == "restart":
                held.restart(rest or scale_ab.THIS)
                print(json.dumps({"restarted": rest, "pid": held.proc.pid}), flush=True)
            elif word == "measure":
                print(json.dumps(scale_ab._at_rest(held.env, rest, held.proc.pid, held.body)),
                      flush=True)
            elif word == "timeline":
                for _ in range(int(rest or 5)):
                    print(json.dumps(timeline.one_more(held.env, held.body)), flush=True)
            elif word == "threads":
                print(json.dumps(threads(held.proc.pid, float(rest or 20), args.py_spy)),
                      flush=True)
            else:
                print(json.dumps({"unknown": lines[done - 1]}), flush=True)


if __name__ == "__main__":
    main()
