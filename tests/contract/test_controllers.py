"""Two `nslb serve` controllers on one throwaway PostgreSQL database (issue 10, item 6).

Each controller runs the real CLI and service with the noop driver wrapped in a journal
they share (journaled_serve.py), Keystone auth on, its own state directory (the Fernet and
key manager keys copied from the first, as an operator distributes them) and a lease ttl
of 2 s. API calls alternate between them; the checks are what must hold whoever answers:
every object converges, a token revoked through one is refused by the other at once, the
login throttle counts across both, and after a kill -9 of one during a burst of 50 API
changes everything converges, no generation is applied twice, each LB's work is done by
one controller at a time (the killed one's passes to the survivor), and the outbox
publishes each event once (a second send only of what the killed controller had sent and
not yet marked delivered).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.contract.server import NslbServer
from tests.functional.test_postgres import Cluster, cluster  # noqa: F401 - fixture

pytestmark = [pytest.mark.contract, pytest.mark.postgres, pytest.mark.timeout(150)]
ROOT = Path(__file__).resolve().parents[2]
LB = "/v2/lbaas/loadbalancers"
NET = "/networking/v2.0"
CIDR = "10.236.0.0/16"
LEASE_TTL = 2


class Controller(NslbServer):
    """`nslb serve` through journaled_serve.py, on PostgreSQL, with Keystone auth."""

    def __init__(self, state_dir: Path, db_url: str, name: str, journal: Path) -> None:
        super().__init__(state_dir, db_url=db_url)
        self.name = name
        self.journal = journal

    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("noauth")] = "keystone"
        env = ["/usr/bin/env", f"PYTHONPATH={ROOT}", f"NSLB_TEST_JOURNAL={self.journal}",
               "NSLB_TEST_APPLY_SECONDS=0.05", "NSLB_RESYNC_INTERVAL=3600",
               "NSLB_METRICS_LISTEN="]
        return [*env, sys.executable, "-m", "tests.contract.journaled_serve", *cmd[1:],
                "--controller-id", self.name, "--lease-ttl", str(LEASE_TTL),
                "--log-level", "INFO"]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Pair:
    """The two controllers, the admin's token and a client per controller."""

    def __init__(self, a: Controller, b: Controller, token: str) -> None:
        self.controllers = [a, b]
        self.token = token
        self.clients = [httpx.Client(base_url=c.url, timeout=20,
                                     headers={"X-Auth-Token": token}) for c in (a, b)]
        self.dead: set[int] = set()

    def client(self, i: int) -> httpx.Client:
        """Controller i % 2, or the other one when it is dead."""
        i %= 2
        return self.clients[1 - i if i in self.dead else i]

    def call(self, i: int, method: str, url: str, **kw: Any) -> httpx.Response:
        """A request to controller i; to the other one if i dies meanwhile (the caller
        decides what a request that may or may not have happened means)."""
        try:
            return self.client(i).request(method, url, **kw)
        except httpx.TransportError:
            assert i % 2 in self.dead, "a live controller dropped a request"
            return self.client(1 - i).request(method, url, **kw)


def _login(url: str, password: str, user: str = "admin") -> httpx.Response:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    return httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=20)


def _admin_password(state_dir: Path) -> str:
    text_ = (state_dir / "clouds.yaml").read_text()
    line = next(x for x in text_.splitlines() if x.strip().startswith("password:"))
    return str(json.loads(line.split(":", 1)[1].strip()))


@pytest.fixture(scope="module")
def pair(cluster: Cluster) -> Iterator[Pair]:  # noqa: F811 - the fixture
    url = cluster.url(cluster.create_database())
    root = Path(tempfile.mkdtemp(prefix="nslb-ct-"))
    os.chmod(root, 0o755)
    journal = root / "journal.jsonl"
    a = Controller(root / "a", url, "ct-a", journal)
    b = Controller(root / "b", url, "ct-b", journal)
    for c in (a, b):
        c.state_dir.mkdir()
    try:
        a.start(timeout=60)
        for keys in ("fernet-keys", "secret-keys"):  # what an operator copies to a new host
            if (a.state_dir / keys).exists():
                shutil.copytree(a.state_dir / keys, b.state_dir / keys)
        b.start(timeout=60)
        resp = _login(a.url, _admin_password(a.state_dir))
        assert resp.status_code == 201, resp.text
        p = Pair(a, b, resp.headers["X-Subject-Token"])
        p.url = url  # type: ignore[attr-defined]
        p.journal = journal  # type: ignore[attr-defined]
        yield p
    finally:
        for c in (a, b):
            c.kill()
            print(f"--- {c.name} log ---\n{c.log_tail(60)}")
        shutil.rmtree(root, ignore_errors=True)


def _ok(resp: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    return resp.json() if resp.content else {}


def _wait(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _active(p: Pair, i: int, lb_id: str) -> bool:
    resp = p.client(i).get(f"{LB}/{lb_id}")
    status = resp.json()["loadbalancer"]["provisioning_status"]
    assert status != "ERROR", resp.text
    return status == "ACTIVE"


@pytest.fixture(scope="module")
def lbs(pair: Pair) -> list[dict[str, str]]:
    """Six LBs, each with a listener and a pool, created alternately through both."""
    p = pair
    net = _ok(p.call(0, "POST", f"{NET}/networks", json={"network": {"name": "ct-net"}}))
    subnet = _ok(p.call(1, "POST", f"{NET}/subnets", json={"subnet": {
        "name": "ct-subnet", "network_id": net["network"]["id"], "cidr": CIDR,
        "ip_version": 4}}))["subnet"]
    out = []
    for i in range(6):
        lb_id = _ok(p.call(i, "POST", LB, json={"loadbalancer": {
            "name": f"ct-lb{i}", "vip_subnet_id": subnet["id"]}}))["loadbalancer"]["id"]
        _wait(lambda lb_id=lb_id, i=i: _active(p, i + 1, lb_id), f"LB {lb_id} ACTIVE")
        listener = _ok(p.call(i + 1, "POST", "/v2/lbaas/listeners", json={"listener": {
            "name": f"ct-l{i}", "loadbalancer_id": lb_id, "protocol": "HTTP",
            "protocol_port": 80}}))["listener"]["id"]
        _wait(lambda lb_id=lb_id, i=i: _active(p, i, lb_id), f"LB {lb_id} ACTIVE")
        pool = _ok(p.call(i, "POST", "/v2/lbaas/pools", json={"pool": {
            "name": f"ct-p{i}", "listener_id": listener, "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN"}}))["pool"]["id"]
        out.append({"lb": lb_id, "listener": listener, "pool": pool,
                    "subnet": subnet["id"]})
    for i, item in enumerate(out):
        _wait(lambda item=item, i=i: _active(p, i + 1, item["lb"]), "every LB ACTIVE")
    return out


def test_every_object_converges_whichever_controller_is_asked(pair: Pair,
                                                              lbs: list[dict[str, str]]
                                                              ) -> None:
    for i, item in enumerate(lbs):
        for who in (0, 1):
            tree = _ok(pair.client(who).get(f"{LB}/{item['lb']}/status"), 200)
            lb = tree["statuses"]["loadbalancer"]
            assert lb["provisioning_status"] == "ACTIVE", (i, who, lb)
            assert lb["listeners"][0]["provisioning_status"] == "ACTIVE"
            assert lb["listeners"][0]["pools"][0]["provisioning_status"] == "ACTIVE"


def test_a_resync_asked_of_either_is_done_by_the_lease_holder(pair: Pair,
                                                              lbs: list[dict[str, str]]
                                                              ) -> None:
    """PUT amphora config through the controller that does not hold the LB: it tells the
    holder, whose driver confirms the LB's bundle again."""
    lb_id = lbs[0]["lb"]
    owner = _owners(pair)[f"lb:{lb_id}"]
    holder = next(i for i, c in enumerate(pair.controllers) if c.name == owner)
    amphora = _ok(pair.client(holder).get("/v2/octavia/amphorae",
                                          params={"loadbalancer_id": lb_id}), 200)
    amphora_id = amphora["amphorae"][0]["id"]

    def confirms() -> int:
        return sum(1 for e in _journal(pair.journal)  # type: ignore[attr-defined]
                   if e["op"] == "confirm" and e["lb"] == lb_id
                   and e["pid"] == pair.controllers[holder].pid)

    before = confirms()
    resp = pair.client(1 - holder).put(f"/v2/octavia/amphorae/{amphora_id}/config")
    assert resp.status_code == 202, resp.text
    _wait(lambda: confirms() > before, "the holder resynced the LB", timeout=30)


def test_a_revocation_through_one_is_honoured_by_the_other_at_once(pair: Pair) -> None:
    a, b = pair.controllers
    token = _login(a.url, _admin_password(a.state_dir)).headers["X-Subject-Token"]
    for c in (a, b):  # both validated it once: both have it cached
        assert httpx.get(f"{c.url}{LB}", headers={"X-Auth-Token": token}).status_code == 200
    revoked = httpx.delete(f"{b.url}/identity/v3/auth/tokens",
                           headers={"X-Auth-Token": pair.token, "X-Subject-Token": token})
    assert revoked.status_code == 204, revoked.text
    assert httpx.get(f"{a.url}{LB}", headers={"X-Auth-Token": token}).status_code == 401
    assert httpx.get(f"{b.url}{LB}", headers={"X-Auth-Token": token}).status_code == 401


def test_the_login_throttle_counts_across_both(pair: Pair) -> None:
    a, b = pair.controllers
    answers = [_login((a, b)[i % 2].url, "wrong", user="ct-guessed").status_code
               for i in range(5)]
    assert answers == [401] * 5  # five free attempts in all, not five per controller
    # b saw two of them: its own count would admit this one
    refused = _login(b.url, "wrong", user="ct-guessed")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def _journal(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _change(p: Pair, i: int, item: dict[str, str], address: str) -> None:
    """Add member `address` through controller i, waiting out the LB's lock (409); a
    request cut by the kill may have happened: then the member is there."""
    url = f"/v2/lbaas/pools/{item['pool']}/members"
    body = {"member": {"address": address, "protocol_port": 80,
                       "subnet_id": item["subnet"]}}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = p.call(i, "POST", url, json=body)
        if resp.status_code == 201:
            return
        listed = p.client(i).get(url, params={"address": address}).json()["members"]
        if listed:
            return  # the first attempt got through before its controller died
        assert resp.status_code == 409, resp.text  # the LB is busy with the last change
        time.sleep(0.05)
    raise AssertionError(f"member {address} not created within 60 s")


def test_kill_one_controller_during_a_burst(pair: Pair, lbs: list[dict[str, str]]) -> None:
    p = pair
    v = _busiest(p)  # the controller holding more LBs: its work must move
    victim = p.controllers[v]
    killed_pid = victim.pid
    killed_at = 0.0
    for i in range(50):
        if i == 20:
            killed_at = time.time()
            os.kill(killed_pid, signal.SIGKILL)
            p.dead.add(v)
            victim.proc.wait(10)  # type: ignore[union-attr]
            victim.proc = None
        _change(p, i, lbs[i % len(lbs)], f"10.236.1.{10 + i}")
    survivor = p.clients[1 - v]

    def converged() -> bool:
        for item in lbs:
            tree = survivor.get(f"{LB}/{item['lb']}/status").json()["statuses"]
            lb = tree["loadbalancer"]
            members = lb["listeners"][0]["pools"][0]["members"]
            if lb["provisioning_status"] != "ACTIVE" or any(
                    m["provisioning_status"] != "ACTIVE" for m in members):
                return False
        return True

    _wait(converged, "every object ACTIVE after the kill", timeout=60)
    members = sum(len(survivor.get(f"/v2/lbaas/pools/{item['pool']}/members").json()
                      ["members"]) for item in lbs)
    assert members == 50
    engine = create_engine(p.url)  # type: ignore[attr-defined]
    try:
        _wait(lambda: _undelivered(engine) == 0, "the outbox delivered", timeout=30)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, generation, applied_generation "
                                     "FROM load_balancer")).all()
            seqs = {r.seq for r in conn.execute(text("SELECT seq FROM event_outbox"))}
    finally:
        engine.dispose()
    assert all(r.generation == r.applied_generation for r in rows), rows
    entries = _journal(p.journal)  # type: ignore[attr-defined]
    survivor_pid = p.controllers[1 - v].pid
    assert {e["pid"] for e in entries} <= {killed_pid, survivor_pid}
    _one_hash_per_generation(entries)
    _no_generation_applied_twice(entries)
    # the LBs the killed controller worked on went on with the survivor
    assert _one_controller_per_lb_at_a_time(entries, killed_pid, killed_at) >= 1
    _each_event_published_once(entries, seqs, killed_pid)
    assert any(e["pid"] == killed_pid for e in entries)  # both did work
    assert any(e["pid"] == survivor_pid and e["op"] == "apply" for e in entries)


def _owners(p: Pair) -> dict[str, str]:
    """Lease name -> the controller holding it."""
    engine = create_engine(p.url)  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            return {r.name: r.owner for r in conn.execute(text(
                "SELECT name, owner FROM controller_lease"))}
    finally:
        engine.dispose()


def _busiest(p: Pair) -> int:
    """The index of the controller holding the most LB leases."""
    owners = [o for n, o in _owners(p).items() if n.startswith("lb:")]
    counts = [owners.count(c.name) for c in p.controllers]
    assert sum(counts) == 6, owners  # every LB is held by one of them
    return 0 if counts[0] >= counts[1] else 1


def _undelivered(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM event_outbox "
                                     "WHERE delivered_at IS NULL")).scalar_one())


def _one_hash_per_generation(entries: list[dict[str, Any]]) -> None:
    """Whichever controller renders an amphora's generation renders the same bundle (so
    a takeover re-sends what is served, and the data plane only confirms it)."""
    hashes: dict[tuple[str, int], set[str]] = defaultdict(set)
    for e in entries:
        if e["op"] in ("apply", "confirm"):
            hashes[e["amphora"], e["generation"]].add(e["hash"])
    assert all(len(h) == 1 for h in hashes.values()), \
        {k: h for k, h in hashes.items() if len(h) > 1}


def _no_generation_applied_twice(entries: list[dict[str, Any]]) -> None:
    """An apply changes what an amphora serves; redoing a job after a kill finds the
    bundle there and only confirms it."""
    applies: dict[tuple[str, int], int] = defaultdict(int)
    for e in entries:
        if e["op"] == "apply":
            applies[e["amphora"], e["generation"]] += 1
    twice = {k: n for k, n in applies.items() if n > 1}
    assert not twice, [e for e in entries if (e.get("amphora"), e.get("generation")) in twice]
    assert applies  # the burst applied something


def _one_controller_per_lb_at_a_time(entries: list[dict[str, Any]], killed: int,
                                     killed_at: float) -> int:
    """Per LB, the operations in time order come from one controller, or from the killed
    one and then (after the kill) only from the survivor; how many LBs were taken over."""
    taken_over = 0
    by_lb: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if e["op"] in ("apply", "confirm"):
            by_lb[e["lb"]].append(e)
    for lb_id, ops in by_lb.items():
        pids = [e["pid"] for e in sorted(ops, key=lambda e: e["t0"])]
        switches = [k for k in range(1, len(pids)) if pids[k] != pids[k - 1]]
        assert len(switches) <= 1, (lb_id, pids)
        if switches:
            first = switches[0]
            assert pids[first - 1] == killed, (lb_id, pids)
            assert all(e["t0"] >= killed_at for e in ops if e["pid"] != killed)
            taken_over += 1
    return taken_over


def _each_event_published_once(entries: list[dict[str, Any]], seqs: set[int],
                               killed: int) -> None:
    published: dict[int, list[int]] = defaultdict(list)
    for e in entries:
        if e["op"] == "publish":
            published[e["seq"]].append(e["pid"])
    assert seqs <= set(published), sorted(seqs - set(published))[:10]
    for seq, pids in published.items():
        again = pids[1:]
        assert len(pids) == 1 or (pids[0] == killed and killed not in again
                                  and len(again) == 1), (seq, pids)
