"""Worker jobs planned from an older read must not undo what the API did since."""

from __future__ import annotations

from octavia_helpers import LB_URL, active_lb
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.worker.decide import Action
from nslb.worker.loop import Worker


def test_stale_apply_job_leaves_a_deleting_lb_to_the_delete_job(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    """An APPLY planned while the LB was ACTIVE (a resync) runs after the API deleted it."""
    lb = active_lb(client, worker)
    driver.applied.pop(lb["id"])  # so a wrong re-apply would show
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204

    worker._job(lb["id"], Action.APPLY)  # the stale job

    assert lb["id"] not in driver.applied, "a deleting LB must not be applied again"
    body = client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"]
    assert body["provisioning_status"] == "PENDING_DELETE"
    worker.drain()
    assert client.get(f"{LB_URL}/{lb['id']}").status_code == 404
