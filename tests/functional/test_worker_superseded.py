"""An amphora never goes back to an older generation of its LB (amphora.base.Superseded).

The stalled-controller half (a bundle rendered before the lease moved on is refused and
the newer config kept) is proven on the real data plane in
tests/integration/test_driver_lifecycle.py; here the other half: a controller that holds
the lease but whose database is behind its amphorae (restored from a backup) moves the
LB's generation past what they serve and applies the database's state, instead of
failing the change.
"""

from __future__ import annotations

from sqlalchemy import update
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.db.engine import Database
from nslb.db.tables import load_balancer
from nslb.model.resources import LoadBalancer
from nslb.worker.loop import Worker
from tests.functional.octavia_helpers import active_lb, create_listener


def _generations(db: Database, lb_id: str) -> tuple[int, int]:
    with db.read() as session:
        lb = session.get(LoadBalancer, lb_id)
        assert lb is not None
        return lb.generation, lb.applied_generation


def test_a_database_behind_its_amphorae_catches_up(client: TestClient, worker: Worker,
                                                   driver: NoopDriver, db: Database) -> None:
    lb_id = str(active_lb(client, worker)["id"])
    for port in (80, 81):
        create_listener(client, lb_id, protocol_port=port)
        worker.drain()
    served = driver.applied[lb_id].generation
    assert served >= 3
    with db.write() as session:  # as if restored from a backup taken at generation 1
        session.execute(update(load_balancer).where(load_balancer.c.id == lb_id)
                        .values(generation=1, applied_generation=1))
    create_listener(client, lb_id, protocol_port=8080)
    worker.drain()
    generation, applied = _generations(db, lb_id)
    assert generation == applied == served + 1
    bundle = driver.applied[lb_id]
    assert bundle.generation == served + 1
    assert "8080" in bundle.files["haproxy.cfg"]
    body = client.get(f"/v2/lbaas/loadbalancers/{lb_id}").json()["loadbalancer"]
    assert body["provisioning_status"] == "ACTIVE"
