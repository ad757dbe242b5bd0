"""Many clients changing one LB at once while the worker applies: the LB lock must serialise
them (every answer is 200/201/409) and the final state must match the accepted calls."""

from __future__ import annotations

import threading
import time
from collections import Counter

from conftest import PROJECT
from octavia_helpers import LB_URL, LISTENER_URL, active_lb, create_listener, lb, prov
from starlette.testclient import TestClient

from nslb.worker.loop import Worker

THREADS = 8
CALLS = 12


def test_concurrent_changes_never_corrupt_state(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    lb_id = body["id"]
    first = create_listener(client, lb_id, protocol_port=1)
    worker.drain()

    codes: Counter[int] = Counter()
    created_ports: list[int] = []
    names_set: list[str] = []
    listener_names_set: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def hammer(n: int) -> None:
        # A client of its own: its own event loop, so requests really overlap.
        own = TestClient(client.app, headers={"X-Project-Id": PROJECT})
        for i in range(CALLS):
            kind = i % 3
            if kind == 0:
                name = f"t{n}-{i}"
                resp = own.put(f"{LB_URL}/{lb_id}", json={"loadbalancer": {"name": name}})
            elif kind == 1:
                port = 1000 + n * 100 + i
                resp = own.post(LISTENER_URL, json={"listener": {
                    "protocol": "TCP", "protocol_port": port, "loadbalancer_id": lb_id}})
            else:
                name = f"l{n}-{i}"
                resp = own.put(f"{LISTENER_URL}/{first['id']}",
                               json={"listener": {"name": name}})
            with lock:
                codes[resp.status_code] += 1
                if resp.status_code not in (200, 201, 409):
                    errors.append(f"{resp.status_code} {resp.text}")
                elif resp.status_code == 409:
                    if "immutable" not in resp.json()["faultstring"]:
                        errors.append(resp.text)
                elif kind == 0:
                    names_set.append(name)
                elif kind == 1:
                    created_ports.append(port)
                else:
                    listener_names_set.append(name)

    def apply() -> None:
        while not stop.is_set():
            for future in worker.plan_and_submit():
                future.result()
            time.sleep(0.002)

    applier = threading.Thread(target=apply)
    applier.start()
    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    applier.join()
    worker.drain()

    assert errors == []
    assert sum(codes.values()) == THREADS * CALLS
    assert codes[200] + codes[201] > 0, codes
    assert codes[409] > 0, codes  # the calls did overlap

    final = lb(client, lb_id)
    assert prov(final) == "ACTIVE"
    listeners = client.get(LISTENER_URL).json()["listeners"]
    assert {prov(li) for li in listeners} == {"ACTIVE"}
    assert len(listeners) == 1 + len(created_ports) == 1 + codes[201]
    assert sorted(li["protocol_port"] for li in listeners) == sorted([1, *created_ports])
    assert len(final["listeners"]) == len(listeners)
    assert final["name"] in (names_set or [body["name"]])
    first_now = next(li for li in listeners if li["id"] == first["id"])
    assert first_now["name"] in ([""] + listener_names_set)
