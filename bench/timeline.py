"""Where the time of "one more LB -> 200" goes: one create on a bench environment, with the
POST, the worker's apply (from `nslb serve`'s log) and the client's first ARP, SYN and
SYN-ACK for the new VIP (bench/sniff.py in the client namespace) on one clock.

Every figure is ms after the POST was sent:

    post          the POST answered (the LB is PENDING_CREATE)
    apply_start   the worker began the apply (its log line's time minus its duration)
    apply_end     `applied load balancer <id> ... in N ms` was logged
    first_arp     the client's first ARP request for the VIP
    arp_resolved  the first ARP from the VIP (a reply, or a broadcast that tells the
                  client the VIP's MAC, as haproxy's first ARP for a backend does)
    first_syn / first_synack   to and from the VIP
    served        the probe's first 200

Used by `bench/scale_lab.py`'s `timeline N` command (at 1,000 LBs: stop 23's look at the
new LB's path, docs/sessions/2026-12-04-stop23.md).
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.env import Env

APPLIED = re.compile(r"^(\S+ \S+) INFO nslb\.worker\.loop: applied load balancer (\S+) "
                     r"generation \d+ to \d+ amphorae in (\d+) ms")


def one_more(env: Env, body: dict[str, Any]) -> dict[str, Any]:
    """Create one LB and return its timeline (see the module's docstring)."""
    sniffer = env.lab.python(env.client_ns, "bench.sniff")
    assert sniffer.stdin is not None and sniffer.stdout is not None
    sniffer.stdout.readline()  # "ready"
    log = Path(env.state_dir) / "serve.log"
    offset = log.stat().st_size
    sent = time.time()
    r = env.api.post("/v2/lbaas/loadbalancers", json=body)
    r.raise_for_status()
    answered = time.time()
    lb = r.json()["loadbalancer"]
    env.serving_ms(lb["vip_address"], attempt=0.2)
    served = time.time()
    time.sleep(0.3)  # the GARP and the log line after the apply
    sniffer.stdin.close()
    packets = sniffer.stdout.read().decode().splitlines()
    sniffer.wait(5)
    out: dict[str, Any] = {"lb": lb["id"], "post": answered, "served": served}
    out.update(_applied(log, offset, lb["id"]))
    out.update(_packets(packets, lb["vip_address"]))
    return {key: (round((value - sent) * 1000, 1) if isinstance(value, float) else value)
            for key, value in out.items()}


def _applied(log: Path, offset: int, lb_id: str) -> dict[str, float]:
    """apply_start / apply_end of the LB's first apply logged after `offset`."""
    with log.open() as f:
        f.seek(offset)
        for line in f:
            match = APPLIED.match(line)
            if match and match.group(2) == lb_id:
                logged = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                return {"apply_start": logged - int(match.group(3)) / 1000,
                        "apply_end": logged}
    return {}


def _packets(lines: list[str], vip: str) -> dict[str, float]:
    """The first of each kind of packet about the VIP (bench/sniff.py's lines)."""
    firsts: dict[str, float] = {}
    for line in lines:
        at, kind, source, target = line.split()
        when = float(at)
        if kind == "arp-request" and target == vip and source != vip:
            firsts.setdefault("first_arp", when)
        elif kind.startswith("arp") and source == vip:
            firsts.setdefault("arp_resolved", when)
        elif kind == "syn" and target == vip:
            firsts.setdefault("first_syn", when)
        elif kind == "synack" and source == vip:
            firsts.setdefault("first_synack", when)
    return firsts
