"""Worker jobs planned from an older read must not undo what the API did since, and no
driver failure (whatever it raises) stops the worker or makes it spin."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from octavia_helpers import LB_URL, active_lb, active_tree, fault, members_url, statuses
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.worker.decide import Action, LbState, RetryPolicy
from nslb.worker.loop import Worker

ATTEMPTS = RetryPolicy().max_attempts


def state_of(worker: Worker, lb_id: str) -> LbState:
    return next(s for s in worker.states() if s.id == lb_id)


def test_stale_apply_job_leaves_a_deleting_lb_to_the_delete_job(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    """An APPLY planned while the LB was ACTIVE (a resync) runs after the API deleted it."""
    lb = active_lb(client, worker)
    stale = state_of(worker, lb["id"])
    driver.forget(lb["id"])  # so a wrong re-apply would show
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204

    worker._job(stale, Action.APPLY)  # the stale job

    assert lb["id"] not in driver.applied, "a deleting LB must not be applied again"
    body = client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"]
    assert body["provisioning_status"] == "PENDING_DELETE"
    worker.drain()
    assert client.get(f"{LB_URL}/{lb['id']}").status_code == 404


def lb_status(client: TestClient, lb_id: str) -> str:
    status: str = client.get(f"{LB_URL}/{lb_id}").json()["loadbalancer"]["provisioning_status"]
    return status


def test_a_delete_raising_oserror_is_tried_a_bounded_number_of_times_then_error(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    """Issue 8: delete() raising OSError used to spin and leave the LB PENDING_DELETE."""
    ids = active_tree(client, worker)
    driver.broken[ids["lb"]] = OSError(16, "Device or resource busy")
    assert client.delete(f"{LB_URL}/{ids['lb']}?cascade=true").status_code == 204

    worker.drain()

    assert driver.attempts("delete", ids["lb"]) == ATTEMPTS
    assert set(statuses(client, ids).values()) == {"ERROR"}
    assert worker.attempts(ids["lb"]) is None  # settled, nothing left to retry

    # The fault is gone: an ERROR LB (and its ERROR children) can be deleted again.
    del driver.broken[ids["lb"]]
    assert client.delete(f"{LB_URL}/{ids['lb']}?cascade=true").status_code == 204
    worker.drain()
    fault(client.get(f"{LB_URL}/{ids['lb']}"), 404)
    assert driver.attempts("delete", ids["lb"]) == ATTEMPTS + 1


def test_the_running_worker_backs_off_instead_of_spinning(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    lb = active_lb(client, worker)
    driver.broken[lb["id"]] = OSError("gone")
    worker.start()
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204
    deadline = time.monotonic() + 5
    while driver.attempts("delete", lb["id"]) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.5)
    # 1 s, then 2 s between attempts; the old loop made thousands of calls in this time.
    assert 1 <= driver.attempts("delete", lb["id"]) <= 3
    assert lb_status(client, lb["id"]) == "PENDING_DELETE"
    record = worker.attempts(lb["id"])
    assert record is not None and record.reason == "OSError: gone"


def test_any_exception_from_apply_is_retried_and_a_later_success_settles(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    ids = active_tree(client, worker, hm_too=False)
    url = f"{members_url(ids['pool'])}/{ids['member']}"
    assert client.put(url, json={"member": {"weight": 7}}).status_code == 200
    driver.broken[ids["lb"]] = RuntimeError("netlink hiccup")

    for future in worker.plan_and_submit():
        future.result()

    record = worker.attempts(ids["lb"])
    assert record is not None and (record.failures, record.reason) == \
        (1, "RuntimeError: netlink hiccup")
    assert statuses(client, ids)["member"] == "PENDING_UPDATE"  # the intent is kept
    del driver.broken[ids["lb"]]
    worker.drain()
    assert set(statuses(client, ids).values()) == {"ACTIVE"}
    assert worker.attempts(ids["lb"]) is None
    assert " weight 7\n" in driver.applied[ids["lb"]].files["haproxy.cfg"]


def test_an_apply_that_keeps_failing_puts_only_the_changed_object_in_error(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    ids = active_tree(client, worker, hm_too=False)
    before = driver.attempts("apply", ids["lb"])
    url = f"{members_url(ids['pool'])}/{ids['member']}"
    assert client.put(url, json={"member": {"weight": 7}}).status_code == 200
    driver.broken[ids["lb"]] = RuntimeError("boom")

    worker.drain()

    assert driver.attempts("apply", ids["lb"]) - before == ATTEMPTS
    assert statuses(client, ids) == {"lb": "ACTIVE", "listener": "ACTIVE", "pool": "ACTIVE",
                                     "member": "ERROR"}


def test_orphan_cleanup_survives_a_failing_delete(worker: Worker, driver: NoopDriver,
                                                  client: TestClient) -> None:
    lb = active_lb(client, worker)
    orphan = "0badf00d-0000-4000-8000-000000000000"
    driver.bundles[orphan] = dataclasses.replace(driver.applied[lb["id"]], amphora_id=orphan,
                                                 loadbalancer_id=orphan)
    driver.broken[orphan] = PermissionError("denied")
    worker.clean_orphans()  # logs, does not raise
    assert driver.attempts("delete", orphan) == 1
    del driver.broken[orphan]
    worker.clean_orphans()
    assert orphan not in driver.bundles


def test_describe_never_yields_an_empty_reason(worker: Worker, driver: NoopDriver,
                                               client: TestClient) -> None:
    lb = active_lb(client, worker)
    driver.broken[lb["id"]] = OSError()
    assert client.delete(f"{LB_URL}/{lb['id']}").status_code == 204
    for future in worker.plan_and_submit():
        future.result()
    record: Any = worker.attempts(lb["id"])
    assert record.reason == "OSError"
    assert lb_status(client, lb["id"]) == "PENDING_DELETE"
