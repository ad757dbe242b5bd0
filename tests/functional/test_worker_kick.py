"""An API change names its LB when it wakes the worker: that LB is planned by itself at
once, and the full plan (every LB's state read again) waits for its next round."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import PROJECT
from octavia_helpers import LB_URL, create_lb, vip_subnet
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.worker import loop
from nslb.worker.loop import Worker


@pytest.fixture
def kicked(settings: Settings, db: Database, worker: Worker) -> Iterator[TestClient]:
    """The app wakes this worker, as `nslb serve` wires them."""
    with TestClient(create_app(settings, db, kick=worker.kick),
                    headers={"X-Project-Id": PROJECT}) as test_client:
        yield test_client


def _until(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_a_new_lb_is_applied_before_any_full_plan(
        kicked: TestClient, worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    subnet = vip_subnet(kicked)
    monkeypatch.setattr(loop, "PLAN_EVERY", 3.0)
    events: list[tuple[str, Any]] = []
    lock = threading.Lock()
    full, some = worker.plan, worker._plan_some

    def plan(fast_forward: bool = False) -> Any:
        with lock:
            events.append(("full", None))
        return full(fast_forward)

    def plan_some(ids: set[str]) -> Any:
        planned = some(ids)
        with lock:
            events.append(("some", [(s.id, a.value) for s, a in planned]))
        return planned

    monkeypatch.setattr(worker, "plan", plan)
    monkeypatch.setattr(worker, "_plan_some", plan_some)
    worker.start()
    assert _until(lambda: ("full", None) in events)  # the first round after the start
    with lock:
        events.clear()
    lb = create_lb(kicked, subnet["id"])

    def active() -> bool:
        shown = kicked.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"]
        return bool(shown["provisioning_status"] == "ACTIVE")

    assert _until(active, 2.0)  # well before the next full plan (3 s)
    with lock:
        seen = list(events)
    assert seen[0] == ("some", [(lb["id"], "apply")])
    # the job's end asks for a full plan (whatever else it changed is planned then)
    assert _until(lambda: ("full", None) in events)
    # a change the API cannot name (a network) still plans everything at once
    with lock:
        events.clear()
    worker.kick()
    assert _until(lambda: ("full", None) in events, 1.0)
