"""db/leases.py and the things claimed through it, with two controllers on one database.

SQLite stands in for the shared database here (the same SQL; PostgreSQL adds SKIP LOCKED
and real concurrency, tests/integration/test_controllers.py): two SharedLeases with
different owners are two controllers. Expiry uses the database's clock, so the tests
that need a lease to expire use a short ttl and wait it out.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.db.cluster_state import SharedEpoch
from nslb.db.engine import Database
from nslb.db.leases import SharedLeases, SoloLeases
from nslb.events.publisher import Publisher
from nslb.identity.shared_throttle import SharedThrottle
from nslb.secrets.store import SecretStore
from nslb.worker.loop import Worker, unit
from tests.functional.octavia_helpers import create_lb, prov, vip_subnet


def test_a_unit_is_held_by_one_controller(db: Database) -> None:
    a, b = SharedLeases(db, "a", ttl=30), SharedLeases(db, "b", ttl=30)
    assert a.claim(["lb:1", "lb:2"]) == {"lb:1", "lb:2"}
    assert b.claim(["lb:1", "lb:2", "lb:3"]) == {"lb:3"}
    assert a.holds("lb:1") and not b.holds("lb:1") and b.holds("lb:3")
    assert a.renew() == set() and a.held() == {"lb:1", "lb:2"}
    with db.write() as session:
        assert a.fence(session, "lb:1") and not b.fence(session, "lb:1")


def test_an_expired_lease_is_taken_over_and_fences_its_old_holder(db: Database) -> None:
    a, b = SharedLeases(db, "a", ttl=0.3), SharedLeases(db, "b", ttl=30)
    assert a.claim(["outbox"]) == {"outbox"}
    assert b.claim(["outbox"]) == set()
    time.sleep(0.5)  # a stops renewing, as if killed
    assert not a.holds("outbox")  # its own view lapses before the database's expiry
    assert b.claim(["outbox"]) == {"outbox"}
    with db.write() as session:
        assert not a.fence(session, "outbox")  # cannot settle over its successor
        assert b.fence(session, "outbox")
    assert a.renew() == {"outbox"} and a.claim(["outbox"]) == set()


def test_a_term_counts_owners_so_a_reclaim_by_the_old_owner_is_not_the_old_lease(
        db: Database) -> None:
    a, b = SharedLeases(db, "a", ttl=0.3), SharedLeases(db, "b", ttl=0.3)
    a.claim(["lb:x"])
    time.sleep(0.5)
    b.claim(["lb:x"])
    b.release(["lb:x"])
    assert a.claim(["lb:x"]) == {"lb:x"}  # free again; a holds a new term
    with db.write() as session:
        assert a.fence(session, "lb:x")


def test_release_hands_over_at_once(db: Database) -> None:
    a, b = SharedLeases(db, "a", ttl=30), SharedLeases(db, "b", ttl=30)
    a.claim(["floating", "outbox"])
    a.stop()  # a clean stop gives everything back
    assert b.claim(["floating", "outbox"]) == {"floating", "outbox"}


def test_solo_leases_cost_nothing(db: Database) -> None:
    solo = SoloLeases()
    writes = db.writes
    assert solo.claim(["lb:1"]) == {"lb:1"} and solo.holds("anything")
    with db.read() as session:
        assert solo.fence(session, "lb:1")
    assert db.writes == writes


def test_lease_writes_do_not_count_as_writes(db: Database) -> None:
    """Renewals every few seconds must not make every periodic read read again."""
    a = SharedLeases(db, "a", ttl=30)
    writes = db.writes
    a.claim(["lb:1"])
    a.renew()
    assert db.writes == writes


def _workers(db: Database, tmp_path: Path) -> list[tuple[Worker, NoopDriver]]:
    out = []
    for owner in ("a", "b"):
        driver = NoopDriver()
        out.append((Worker(db, driver, resync_interval=3600,
                           secrets=SecretStore.open(db, tmp_path),
                           leases=SharedLeases(db, owner, ttl=30)), driver))
    return out


def test_two_workers_never_both_apply_an_lb(client: TestClient, db: Database,
                                            tmp_path: Path) -> None:
    subnet = vip_subnet(client)
    lbs = [create_lb(client, subnet["id"])["id"] for _ in range(6)]
    (wa, da), (wb, db_) = _workers(db, tmp_path)
    for _ in range(3):  # both plan, in turns, as two processes would
        for w in (wa, wb):
            for future in w.plan_and_submit(fast_forward=True):
                future.result()
    for lb_id in lbs:
        assert prov(client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()
                    ["loadbalancer"]) == "ACTIVE"
        applied_by = [d for d in (da, db_) if d.attempts("apply", lb_id)]
        assert len(applied_by) == 1, lb_id
        assert applied_by[0].attempts("apply", lb_id) == 1
    held_a = {n for n in wa.leases.held()}
    held_b = {n for n in wb.leases.held()}
    assert held_a | held_b == {unit(i) for i in lbs} and not held_a & held_b
    client.delete(f"/v2/lbaas/loadbalancers/{lbs[0]}")
    owner = wa if unit(lbs[0]) in held_a else wb
    for future in owner.plan_and_submit(fast_forward=True):
        future.result()
    assert unit(lbs[0]) not in owner.leases.held()  # a deleted LB's lease is given back
    for w in (wa, wb):
        w.stop()


def test_only_the_relay_publishes(db: Database) -> None:
    from nslb.events import outbox
    from nslb.events.catalog import Event

    with db.write() as session:
        outbox.record(session, [Event("t.x", {"n": 1}, None, None)])
    relay = Publisher(db, None, leases=SharedLeases(db, "a", ttl=30))
    other = Publisher(db, None, leases=SharedLeases(db, "b", ttl=30))
    assert relay.leases.claim(["outbox"]) and not other.leases.claim(["outbox"])
    assert relay._mark([1]) == 1
    assert other._mark([1]) == 0  # not the relay: nothing is marked


def test_the_throttle_counts_across_controllers(db: Database) -> None:
    a, b = SharedThrottle(db, free=3), SharedThrottle(db, free=3)
    waits = [(a if i % 2 else b).admit("192.0.2.7", "admin") for i in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    assert a.admit("192.0.2.7", "admin") > 0 and b.admit("192.0.2.7", "admin") > 0
    assert a.admit("192.0.2.8", "admin") == 0.0  # another source is not slowed
    b.succeeded("192.0.2.8", "admin")
    assert a.size == 3  # (source, user) of .7, the sources .7 and .8


def test_the_identity_epoch_is_shared(db: Database) -> None:
    a, b = SharedEpoch(db, "identity"), SharedEpoch(db, "identity")
    before = b.current()
    a.bump()
    assert b.current() == before + 1


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_lease_needs_a_positive_ttl(db: Database, ttl: float) -> None:
    with pytest.raises(ValueError):
        SharedLeases(db, "a", ttl=ttl)


def test_each_controller_watches_only_the_lbs_it_holds(client: TestClient, db: Database,
                                                       tmp_path: Path) -> None:
    from nslb.health.monitor import HealthMonitor

    subnet = vip_subnet(client)
    lb_id = create_lb(client, subnet["id"])["id"]
    (wa, da), (wb, db_) = _workers(db, tmp_path)
    for future in wa.plan_and_submit(fast_forward=True):
        future.result()
    assert wa.leases.holds(unit(lb_id)) and not wb.leases.claim([unit(lb_id)])
    watcher = HealthMonitor(db, da, leases=wa.leases)
    other = HealthMonitor(db, db_, leases=wb.leases)
    assert watcher.run_once().amphorae == 1
    # b's driver serves nothing of it: were b to look, it would call the LB down
    assert other.run_once().amphorae == 0
    assert client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"][
        "operating_status"] == "ONLINE"
    for w in (wa, wb):
        w.stop()
