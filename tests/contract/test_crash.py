"""kill -9 of a real `nslb serve` (noop driver, SQLite file) at random moments.

Client threads drive the raw Octavia API (single-call tree creates, updates, member
creates, cascade deletes) and remember what was acknowledged with a 2xx. The server is
killed with SIGKILL mid-traffic, restarted on the same state directory, and everything
must converge: nothing PENDING_* after a few seconds, every LB ACTIVE, every acknowledged
create present with its whole tree, every acknowledged delete gone, no leaked ports. A
request that was in flight when the server died may or may not have happened; both
outcomes are accepted for that one request only.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.contract.server import PROJECT, NslbServer

pytestmark = [pytest.mark.contract, pytest.mark.timeout(120)]
LB = "/v2/lbaas/loadbalancers"
HEADERS = {"X-Project-Id": PROJECT}
ROUNDS = 5
CONVERGE_S = 15.0
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")
_addresses = itertools.count(10)
_address_lock = threading.Lock()


def _next_address() -> str:
    with _address_lock:
        n = next(_addresses)
    return f"10.20.{n // 250}.{n % 250 + 1}"


# --- what the clients know ---------------------------------------------------------------

@dataclass
class LbModel:
    id: str
    pool_id: str
    description: str = ""
    members: set[str] = field(default_factory=set)
    deleted: bool = False


@dataclass
class InFlight:
    """The one request a client had outstanding when the server died."""

    op: str
    lb_id: str | None = None
    value: str | None = None


@dataclass
class ClientState:
    name: str
    lbs: dict[str, LbModel] = field(default_factory=dict)
    in_flight: InFlight | None = None
    codes: dict[int, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)


def _tree_body(subnet_id: str, name: str) -> dict[str, Any]:
    members = [{"address": _next_address(), "protocol_port": 80} for _ in range(2)]
    return {"loadbalancer": {
        "name": name, "vip_subnet_id": subnet_id, "description": "v0",
        "listeners": [{"name": "l80", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {
                           "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                           "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3,
                                             "max_retries": 2},
                           "members": members}}]}}


def _run_client(url: str, subnet_id: str, state: ClientState, rng: random.Random,
                stop: threading.Event, deadline: float) -> None:
    """Issue requests until the server dies, `stop` is set or the deadline passes."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=5.0) as http:
        for i in range(10_000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            live = [m for m in state.lbs.values() if not m.deleted]
            roll = rng.random()
            if not live or (roll < 0.3 and len(live) < 6):
                flight = InFlight("create")
                method, path, body = "POST", LB, _tree_body(subnet_id, f"{state.name}-{i}")
            else:
                target = rng.choice(live)
                if roll < 0.6:
                    flight = InFlight("update", target.id, f"{state.name}-d{i}")
                    method, path = "PUT", f"{LB}/{target.id}"
                    body = {"loadbalancer": {"description": flight.value}}
                elif roll < 0.85:
                    flight = InFlight("member", target.id, _next_address())
                    method, path = "POST", f"/v2/lbaas/pools/{target.pool_id}/members"
                    body = {"member": {"address": flight.value, "protocol_port": 80}}
                else:
                    flight = InFlight("delete", target.id)
                    method, path, body = "DELETE", f"{LB}/{target.id}?cascade=true", None
            state.in_flight = flight
            try:
                resp = http.request(method, path, json=body)
            except httpx.TransportError:
                return  # the server is gone; `in_flight` stays for the verifier
            state.in_flight = None
            state.codes[resp.status_code] = state.codes.get(resp.status_code, 0) + 1
            if resp.status_code == 409:
                continue
            if resp.status_code not in (200, 201, 204):
                state.unexpected.append(f"{method} {path}: {resp.status_code} {resp.text}")
                continue
            if flight.op == "create":
                lb = resp.json()["loadbalancer"]
                model = LbModel(lb["id"], lb["pools"][0]["id"], "v0",
                                {m["address"] for m in lb["pools"][0]["members"]})
                state.lbs[model.id] = model
            elif flight.op == "update":
                assert flight.lb_id is not None and flight.value is not None
                state.lbs[flight.lb_id].description = flight.value
            elif flight.op == "member":
                assert flight.lb_id is not None and flight.value is not None
                state.lbs[flight.lb_id].members.add(flight.value)
            else:
                assert flight.lb_id is not None
                state.lbs[flight.lb_id].deleted = True


# --- what the server says ------------------------------------------------------------------

def _get(http: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    resp = http.get(path)
    assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
    items: list[dict[str, Any]] = resp.json()[key]
    return items


def _wait_converged(http: httpx.Client) -> dict[str, Any]:
    """Poll until nothing is PENDING_*; returns the final listing."""
    deadline = time.monotonic() + CONVERGE_S
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = {kind: _get(http, f"/v2/lbaas/{kind}", kind)
                for kind in ("loadbalancers", "listeners", "pools", "healthmonitors")}
        # Octavia's member body has no pool_id: note which pool each one was listed under.
        last["members"] = []
        for pool in last["pools"]:
            resp = http.get(f"/v2/lbaas/pools/{pool['id']}/members")
            if resp.status_code == 404 and pool["provisioning_status"] == "PENDING_DELETE":
                continue  # deleted between the two listings
            assert resp.status_code == 200, f"members of {pool['id']}: {resp.text}"
            last["members"] += [{**m, "pool_id": pool["id"]} for m in resp.json()["members"]]
        statuses = [o["provisioning_status"] for objs in last.values() for o in objs]
        if not any(s in PENDING for s in statuses):
            return last
        time.sleep(0.1)
    pending = [(kind, o["id"], o["provisioning_status"]) for kind, objs in last.items()
               for o in objs if o["provisioning_status"] in PENDING]
    pytest.fail(f"still pending {CONVERGE_S}s after restart: {pending}")


def _verify(http: httpx.Client, clients: list[ClientState]) -> None:
    seen = _wait_converged(http)
    lbs = {lb["id"]: lb for lb in seen["loadbalancers"]}
    bad_lbs = {i: lb["provisioning_status"] for i, lb in lbs.items()
               if lb["provisioning_status"] != "ACTIVE"}
    assert not bad_lbs, f"load balancers not ACTIVE after recovery: {bad_lbs}"
    for kind in ("listeners", "pools", "healthmonitors", "members"):
        bad = [o for o in seen[kind] if o["provisioning_status"] != "ACTIVE"]
        assert not bad, f"{kind} not ACTIVE after recovery: {bad}"
    members_by_pool: dict[str, set[str]] = {}
    for m in seen["members"]:
        members_by_pool.setdefault(m["pool_id"], set()).add(m["address"])

    known: set[str] = set()
    creates_in_flight = 0
    for client in clients:
        flight = client.in_flight
        creates_in_flight += flight is not None and flight.op == "create"
        for model in client.lbs.values():
            known.add(model.id)
            uncertain = flight if flight is not None and flight.lb_id == model.id else None
            if model.deleted:
                assert model.id not in lbs, f"acknowledged delete of {model.id} undone"
                continue
            if uncertain is not None and uncertain.op == "delete" and model.id not in lbs:
                model.deleted = True
                continue
            assert model.id in lbs, f"acknowledged create of {model.id} was lost"
            lb = lbs[model.id]
            allowed = {model.description}
            if uncertain is not None and uncertain.op == "update":
                allowed.add(str(uncertain.value))
            assert lb["description"] in allowed, (lb["description"], allowed)
            model.description = lb["description"]
            got = members_by_pool.get(model.pool_id, set())
            extra = got - model.members
            if uncertain is not None and uncertain.op == "member":
                extra.discard(str(uncertain.value))
            assert model.members <= got, f"acknowledged members lost: {model.members - got}"
            assert not extra, f"members nobody asked for: {extra}"
            model.members = got
        client.in_flight = None
    # An unacknowledged create may have committed; it must have converged like the rest.
    unknown = set(lbs) - known
    assert len(unknown) <= creates_in_flight, (unknown, creates_in_flight)
    # Whole trees: one listener, one pool, one health monitor per LB; nothing orphaned.
    lb_of_pool = {p["id"]: p["loadbalancers"][0]["id"] for p in seen["pools"]}
    owners = {
        "listeners": [o["loadbalancers"][0]["id"] for o in seen["listeners"]],
        "pools": list(lb_of_pool.values()),
        "healthmonitors": [lb_of_pool[o["pools"][0]["id"]] for o in seen["healthmonitors"]],
    }
    for kind, ids in owners.items():
        assert sorted(ids) == sorted(lbs), f"{kind} do not match the LBs"
    ports = _get(http, "/networking/v2.0/ports", "ports")
    vip_names = sorted(p["name"] for p in ports if p["device_owner"] == "Octavia")
    assert vip_names == sorted(f"octavia-lb-{i}" for i in lbs), "leaked or missing VIP ports"
    # Adopt what the server has, so the next round starts from the truth.
    for lb_id in unknown:
        pool = next(p for p in seen["pools"] if p["loadbalancers"][0]["id"] == lb_id)
        clients[0].lbs[lb_id] = LbModel(lb_id, pool["id"], lbs[lb_id]["description"],
                                        members_by_pool.get(pool["id"], set()))


@pytest.fixture
def subnet_id(nslb_server: NslbServer) -> Iterator[str]:
    with httpx.Client(base_url=nslb_server.url, headers=HEADERS, timeout=5.0) as http:
        net = http.post("/networking/v2.0/networks", json={"network": {
            "name": "crash", "provider:network_type": "vlan",
            "provider:physical_network": "physnet1", "provider:segmentation_id": 300}})
        assert net.status_code == 201, net.text
        sub = http.post("/networking/v2.0/subnets", json={"subnet": {
            "network_id": net.json()["network"]["id"], "ip_version": 4,
            "cidr": "10.20.0.0/16"}})
        assert sub.status_code == 201, sub.text
        yield sub.json()["subnet"]["id"]


def test_kill_9_at_random_moments_loses_nothing_acknowledged(
        nslb_server: NslbServer, subnet_id: str) -> None:
    seed = int(os.environ.get("NSLB_CRASH_SEED") or random.randrange(1 << 30))
    print(f"crash test seed {seed}")
    rng = random.Random(seed)
    clients = [ClientState("a"), ClientState("b")]
    started = time.monotonic()
    for round_no in range(ROUNDS):
        assert time.monotonic() - started < 80, "crash rounds took too long"
        stop = threading.Event()
        deadline = time.monotonic() + 5.0
        threads = [threading.Thread(target=_run_client,
                                    args=(nslb_server.url, subnet_id, c,
                                          random.Random(rng.random()), stop, deadline),
                                    daemon=True) for c in clients]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        nslb_server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=10)
            assert not t.is_alive(), "a client did not stop"
        print(f"round {round_no}: codes {[c.codes for c in clients]}, in flight at the "
              f"kill {[c.in_flight and c.in_flight.op for c in clients]}")
        t0 = time.monotonic()
        nslb_server.start()
        with httpx.Client(base_url=nslb_server.url, headers=HEADERS, timeout=5.0) as http:
            _verify(http, clients)
        print(f"round {round_no}: restarted and converged in {time.monotonic() - t0:.1f}s")
        for c in clients:
            assert not c.unexpected, f"round {round_no}: unexpected answers {c.unexpected}"
    acked = sum(c.codes.get(201, 0) + c.codes.get(200, 0) + c.codes.get(204, 0)
                for c in clients)
    assert acked >= 20, f"too little traffic to mean anything: {[c.codes for c in clients]}"
    assert nslb_server.starts == ROUNDS + 1


def test_concurrent_updates_and_member_creates_on_one_lb(
        nslb_server: NslbServer, subnet_id: str) -> None:
    """Threads hammer one LB: every answer is 2xx or 409, and the end state is exactly
    what was acknowledged."""
    with httpx.Client(base_url=nslb_server.url, headers=HEADERS, timeout=10.0) as http:
        resp = http.post(LB, json=_tree_body(subnet_id, "hot"))
        assert resp.status_code == 201, resp.text
        lb = resp.json()["loadbalancer"]
        pool_id = lb["pools"][0]["id"]
        initial = {m["address"] for m in lb["pools"][0]["members"]}
        _wait_converged(http)

    lock = threading.Lock()
    codes: list[int] = []
    descriptions: set[str] = {"v0"}
    members: set[str] = set(initial)
    problems: list[str] = []

    def updater(n: int) -> None:
        with httpx.Client(base_url=nslb_server.url, headers=HEADERS, timeout=10.0) as c:
            for i in range(25):
                value = f"u{n}-{i}"
                r = c.put(f"{LB}/{lb['id']}", json={"loadbalancer": {"description": value}})
                with lock:
                    codes.append(r.status_code)
                    if r.status_code == 200:
                        descriptions.add(value)
                    elif r.status_code != 409:
                        problems.append(f"PUT: {r.status_code} {r.text}")

    def member_creator(n: int) -> None:
        with httpx.Client(base_url=nslb_server.url, headers=HEADERS, timeout=10.0) as c:
            for _ in range(25):
                address = _next_address()
                r = c.post(f"/v2/lbaas/pools/{pool_id}/members",
                           json={"member": {"address": address, "protocol_port": 8080}})
                with lock:
                    codes.append(r.status_code)
                    if r.status_code == 201:
                        members.add(address)
                    elif r.status_code != 409:
                        problems.append(f"POST member: {r.status_code} {r.text}")

    threads = [threading.Thread(target=updater, args=(n,), daemon=True) for n in range(3)]
    threads += [threading.Thread(target=member_creator, args=(n,), daemon=True)
                for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert not problems, problems
    assert set(codes) <= {200, 201, 409}
    assert codes.count(200) >= 1 and codes.count(201) >= 1, codes

    with httpx.Client(base_url=nslb_server.url, headers=HEADERS, timeout=10.0) as http:
        seen = _wait_converged(http)
        [final] = seen["loadbalancers"]
        assert final["provisioning_status"] == "ACTIVE"
        assert final["description"] in descriptions
        got = [m["address"] for m in seen["members"]]
        assert len(got) == len(set(got))
        assert set(got) == members
        assert all(m["provisioning_status"] == "ACTIVE" for m in seen["members"])
        [listener] = seen["listeners"]
        assert listener["provisioning_status"] == "ACTIVE"
