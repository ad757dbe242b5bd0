"""Heartbeats one health manager takes (issue 10's target: 10,000 amphorae at a 1 s
interval on one core).

    python -m bench.heartbeats [--quick] [--amphorae 10000]

A sender process signs one heartbeat per amphora per second (an LB's usual content: one
listener with its counters, one pool, two members), all of them before the run, then
sends each second's datagrams spread over that second, over loopback, to a real Receiver
(its socket thread and its flush thread) storing into a HeartbeatStore on SQLite
(10,000 amphora_health rows, one executemany UPDATE per round).

Measured in the receiving process, whose only work is that: the CPU it spent per
accepted heartbeat, so `heartbeat_capacity_per_core_s` (heartbeats a second one core
takes) does not depend on what else shares the machine; `heartbeat_capacity_ratio` is
that over the target (>= 1: one core is enough). `heartbeat_received_ratio` is accepted
over sent at the target rate (1.0: none lost); it falls below 1 when the receiving
process got less CPU than it needs, and `heartbeat_receiver_cpu_pct` says how much it
got: on a shared machine that measures the machine, not the receiver. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import socket
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from nslb.amphora.base import ListenerCounters, Observation
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from nslb.db.tables import amphora_health
from nslb.heartbeat.envelope import encode
from nslb.heartbeat.observation import heartbeat_of
from nslb.heartbeat.receiver import HeartbeatMetrics, Receiver
from nslb.heartbeat.store import HeartbeatStore

KEY = b"bench-heartbeat-key-0123456789abcdef"
TARGET_AMPHORAE = 10_000


def _observation() -> Observation:
    listener, pool = str(uuid.uuid4()), str(uuid.uuid4())
    return Observation(running=True, listeners={listener: "OPEN"}, pools={pool: "UP"},
                       members={str(uuid.uuid4()): "UP", str(uuid.uuid4()): "UP"},
                       counters={listener: ListenerCounters(123456, 654321, 12, 98765, 3,
                                                            98000, 7)},
                       process_start=time.time() - 3600)


def _send(address: tuple[str, int], ids: list[str], seconds: int, sent: Any,
          ready: Any) -> None:
    """The sender process: every datagram signed first (so the sending costs only the
    sendto calls), then a round per second, each spread over its second."""
    observation = _observation()
    seq = time.time_ns() // 1000
    rounds = []
    for _ in range(seconds):
        datagrams = []
        for amphora_id in ids:
            seq += 1
            datagrams.append(encode(heartbeat_of(amphora_id, seq, time.time(), observation),
                                    KEY))
        rounds.append(datagrams)
    ready.set()
    slices = 100
    step = max(1, len(ids) // slices)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        for second, datagrams in enumerate(rounds):
            for i in range(0, len(datagrams), step):
                for datagram in datagrams[i:i + step]:
                    sock.sendto(datagram, address)
                sent.value += len(datagrams[i:i + step])
                pause = start + second + (i + step) / len(datagrams) - time.monotonic()
                if pause > 0:
                    time.sleep(pause)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(quick: bool, amphorae: int = TARGET_AMPHORAE) -> dict[str, Any]:
    seconds = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="nslb-bench-hb-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'nslb.db'}")
        upgrade(db)
        ids = [str(uuid.uuid4()) for _ in range(amphorae)]
        now = datetime.now(UTC).replace(tzinfo=None)
        with db.write() as session:
            session.execute(amphora_health.insert(), [
                {"amphora_id": a, "last_update": now, "busy": False, "last_seq": 0}
                for a in ids])
        metrics = HeartbeatMetrics(CollectorRegistry())
        # the window is not what is measured: the datagrams are signed before the run
        receiver = Receiver("127.0.0.1:0", KEY, HeartbeatStore(db), window=3600,
                            flush_interval=1.0, metrics=metrics)
        receiver.start()
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        sent, ready = context.Value("q", 0, lock=False), context.Event()
        sender = context.Process(target=_send,
                                 args=(receiver.address, ids, seconds, sent, ready))
        sender.start()
        ready.wait()
        cpu_before, wall_before = _cpu(), time.monotonic()
        sender.join()
        time.sleep(1.5)  # the last datagrams read and the last round flushed
        receiver.stop()
        cpu = _cpu() - cpu_before
        wall = time.monotonic() - wall_before
        accepted = metrics.registry.get_sample_value("nslb_heartbeats_total",
                                                     {"result": "accepted"}) or 0.0
        flushes = _flush_samples(metrics)
        size = len(encode(heartbeat_of(ids[0], 1, time.time(), _observation()), KEY))
        db.dispose()
    per_heartbeat = cpu / accepted if accepted else float("inf")
    capacity = 1 / per_heartbeat if accepted else 0.0
    return {"heartbeat_amphorae": amphorae, "heartbeat_seconds": seconds,
            "heartbeat_datagram_bytes": size,
            "heartbeat_sent_per_s": round(sent.value / seconds),
            "heartbeat_received_ratio": round(accepted / sent.value, 4) if sent.value else 0,
            "heartbeat_receiver_cpu_pct": round(100 * cpu / wall, 1),
            "heartbeat_cpu_us_per_heartbeat": round(per_heartbeat * 1e6, 1),
            "heartbeat_capacity_per_core_s": round(capacity),
            "heartbeat_capacity_ratio": round(capacity / TARGET_AMPHORAE, 2),
            "heartbeat_flush_ms_mean": flushes}


def _flush_samples(metrics: HeartbeatMetrics) -> float:
    """Mean time to store one round's batch, in ms."""
    total = metrics.registry.get_sample_value("nslb_heartbeat_flush_seconds_sum") or 0.0
    count = metrics.registry.get_sample_value("nslb_heartbeat_flush_seconds_count") or 0.0
    return round(1000 * total / count, 1) if count else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--amphorae", type=int, default=TARGET_AMPHORAE)
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.amphorae), indent=2))


if __name__ == "__main__":
    main()
