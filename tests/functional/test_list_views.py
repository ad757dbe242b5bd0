"""Lists reuse the views of unchanged rows (nslb/api/octavia/view_cache.py); a change,
whoever makes it, shows in the very next list.

Every list here is compared with the show of each object, which is rendered without the
cache, so a stale view fails the comparison whatever field it is stale in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT
from octavia_helpers import (
    API,
    HM_URL,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_tree,
    create_listener,
    create_member,
)
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.worker.loop import Worker

COLLECTIONS = {LB_URL: ("loadbalancers", "loadbalancer"),
               LISTENER_URL: ("listeners", "listener"),
               POOL_URL: ("pools", "pool"),
               HM_URL: ("healthmonitors", "healthmonitor")}


def listed(client: TestClient, url: str) -> dict[str, dict[str, Any]]:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    return {item["id"]: item for item in resp.json()[COLLECTIONS[url][0]]}


def assert_lists_match_shows(client: TestClient) -> None:
    """Every listed object equals its show, field for field."""
    for url, (collection, root) in COLLECTIONS.items():
        items = listed(client, url)
        for ident, item in items.items():
            shown = client.get(f"{url}/{ident}")
            assert shown.status_code == 200, shown.text
            assert item == shown.json()[root], (collection, ident)


@pytest.fixture
def tree(client: TestClient, worker: Worker) -> dict[str, str]:
    ids = active_tree(client, worker)
    assert all(listed(client, url) for url in COLLECTIONS)
    assert_lists_match_shows(client)  # the views are now kept
    return ids


def test_update_then_list_shows_it_at_once(client: TestClient, worker: Worker,
                                           tree: dict[str, str]) -> None:
    resp = client.put(f"{LB_URL}/{tree['lb']}", json={"loadbalancer": {"name": "renamed"}})
    assert resp.status_code == 200, resp.text
    lb = listed(client, LB_URL)[tree["lb"]]
    assert (lb["name"], lb["provisioning_status"]) == ("renamed", "PENDING_UPDATE")
    assert_lists_match_shows(client)
    worker.drain()
    assert listed(client, LB_URL)[tree["lb"]]["provisioning_status"] == "ACTIVE"
    resp = client.put(f"{HM_URL}/{tree['hm']}", json={"healthmonitor": {"delay": 7}})
    assert resp.status_code == 200, resp.text
    assert listed(client, HM_URL)[tree["hm"]]["delay"] == 7
    assert_lists_match_shows(client)


def test_children_show_in_their_parents_list_at_once(client: TestClient, worker: Worker,
                                                     tree: dict[str, str]) -> None:
    second = create_listener(client, tree["lb"], protocol_port=81)
    assert {x["id"] for x in listed(client, LB_URL)[tree["lb"]]["listeners"]} == {
        tree["listener"], second["id"]}
    worker.drain()
    member = create_member(client, tree["pool"], address="10.0.0.51")
    assert member["id"] in [x["id"] for x in listed(client, POOL_URL)[tree["pool"]]["members"]]
    worker.drain()
    assert client.delete(f"{HM_URL}/{tree['hm']}").status_code == 204
    worker.drain()
    assert "healthmonitor_id" not in listed(client, POOL_URL)[tree["pool"]]
    assert_lists_match_shows(client)


@pytest.fixture
def other_controller(tmp_path: Path, settings: Settings) -> Iterator[TestClient]:
    """A second API process's app on the same database file: its writes reach this
    process only through the database."""
    database = Database(f"sqlite:///{tmp_path / 'nslb.db'}")
    app = create_app(settings, database)
    try:
        with TestClient(app, headers={"X-Project-Id": PROJECT}) as other:
            yield other
    finally:
        database.dispose()


def test_another_controllers_write_shows_at_once(client: TestClient, tree: dict[str, str],
                                                 other_controller: TestClient) -> None:
    resp = other_controller.put(f"{POOL_URL}/{tree['pool']}",
                                json={"pool": {"lb_algorithm": "LEAST_CONNECTIONS"}})
    assert resp.status_code == 200, resp.text
    assert listed(client, POOL_URL)[tree["pool"]]["lb_algorithm"] == "LEAST_CONNECTIONS"
    assert_lists_match_shows(client)


def test_a_write_that_leaves_updated_at_and_generation_shows(
        client: TestClient, tree: dict[str, str], tmp_path: Path) -> None:
    """The view is keyed on the whole row: a column written by anyone, without touching
    updated_at or the generation (as a status write does), is seen."""
    before = listed(client, LB_URL)[tree["lb"]]
    with sqlite3.connect(tmp_path / "nslb.db") as raw:
        raw.execute("UPDATE load_balancer SET operating_status = 'DEGRADED', "
                    "tags = '[\"x\"]' WHERE id = ?", (tree["lb"],))
        raw.execute("UPDATE listener SET connection_limit = 9 WHERE id = ?",
                    (tree["listener"],))
    after = listed(client, LB_URL)[tree["lb"]]
    assert (after["operating_status"], after["tags"]) == ("DEGRADED", ["x"])
    assert after["updated_at"] == before["updated_at"]
    assert listed(client, LISTENER_URL)[tree["listener"]]["connection_limit"] == 9
    assert_lists_match_shows(client)


def test_fields_leave_the_kept_view_whole(client: TestClient, tree: dict[str, str]) -> None:
    resp = client.get(f"{API}/loadbalancers", params={"fields": "id,name"})
    assert resp.status_code == 200, resp.text
    assert set(resp.json()["loadbalancers"][0]) == {"id", "name"}
    assert "vip_address" in listed(client, LB_URL)[tree["lb"]]
    assert_lists_match_shows(client)


def test_two_apps_on_two_databases_never_share_a_list(client: TestClient, worker: Worker,
                                                      tree: dict[str, str], tmp_path: Path,
                                                      settings: Settings) -> None:
    """Identical concurrent lists share one read (api/coalesce.py) only within one
    database: a process serving two apps keeps their answers apart."""
    from concurrent.futures import ThreadPoolExecutor

    from nslb.db.migrate import upgrade

    other_db = Database(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other_db)
    try:
        with TestClient(create_app(settings, other_db),
                        headers={"X-Project-Id": PROJECT}) as other:
            def count(which: TestClient) -> int:
                resp = which.get(LB_URL)
                assert resp.status_code == 200, resp.text
                return len(resp.json()["loadbalancers"])

            clients = [client, other] * 30
            with ThreadPoolExecutor(8) as pool:
                counts = list(pool.map(count, clients))
    finally:
        other_db.dispose()
    assert counts == [1, 0] * 30
