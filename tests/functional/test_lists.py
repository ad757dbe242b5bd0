"""Collections: filters, tag filters, field selection, sorting and paginated links."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from octavia_helpers import API, LB_URL, active_tree, create_lb, fault, vip_subnet
from starlette.testclient import TestClient

from nslb.db.engine import Database
from nslb.worker.loop import Worker


@pytest.fixture
def lbs(client: TestClient, worker: Worker) -> list[dict[str, Any]]:
    """Five LBs: names lb0..lb4, lb1 and lb3 admin-down, tags over a/b/c; lb4 PENDING."""
    subnet = vip_subnet(client)
    tags = [["a"], ["a", "b"], ["b"], ["c"], ["a", "b", "c"]]
    out = []
    for i, tag in enumerate(tags):
        out.append(create_lb(client, subnet["id"], name=f"lb{i}", tags=tag,
                             admin_state_up=i not in (1, 3), description=f"d{i % 2}"))
        if i == 3:
            worker.drain()
    return out


def names(client: TestClient, **params: Any) -> list[str]:
    """Names in the listed order; sorted by name unless the test sorts."""
    if not ({"sort", "sort_key"} & set(params)):
        params["sort"] = "name"
    resp = client.get(LB_URL, params=params)
    assert resp.status_code == 200, resp.text
    return [lb["name"] for lb in resp.json()["loadbalancers"]]


def test_filters(client: TestClient, lbs: list[dict[str, Any]]) -> None:
    assert names(client) == ["lb0", "lb1", "lb2", "lb3", "lb4"]
    assert names(client, name="lb2") == ["lb2"]
    assert names(client, admin_state_up="false") == ["lb1", "lb3"]
    assert names(client, admin_state_up="true", description="d0") == ["lb0", "lb2", "lb4"]
    assert names(client, provisioning_status="PENDING_CREATE") == ["lb4"]
    assert names(client, provisioning_status="ACTIVE", description="d1") == ["lb1", "lb3"]
    assert names(client, id=lbs[3]["id"]) == ["lb3"]
    assert names(client, vip_address=lbs[0]["vip_address"]) == ["lb0"]
    assert names(client, name="nope") == []
    assert names(client, project_id=lbs[0]["project_id"]) == names(client)
    assert names(client, tenant_id="someone-else") == []
    fault(client.get(LB_URL, params={"colour": "red"}), 400)
    fault(client.get(LB_URL, params={"admin_state_up": "maybe"}), 400)


def test_tag_filters(client: TestClient, lbs: list[dict[str, Any]]) -> None:
    assert names(client, tags="a") == ["lb0", "lb1", "lb4"]
    assert names(client, tags="a,b") == ["lb1", "lb4"]
    assert names(client, tags=["a", "b"]) == ["lb1", "lb4"]
    assert names(client, **{"tags-any": "a,c"}) == ["lb0", "lb1", "lb3", "lb4"]
    assert names(client, **{"not-tags": "a,b"}) == ["lb0", "lb2", "lb3"]
    assert names(client, **{"not-tags-any": "a,c"}) == ["lb2"]
    assert names(client, tags="b", **{"not-tags": "c"}) == ["lb1", "lb2"]


def test_fields(client: TestClient, lbs: list[dict[str, Any]]) -> None:
    for params in ({"fields": ["id", "name"], "sort": "name"},
                   {"fields": "id,name", "sort": "name"}):
        items = client.get(LB_URL, params=params).json()["loadbalancers"]
        assert items[0] == {"id": lbs[0]["id"], "name": "lb0"}
    one = client.get(f"{LB_URL}/{lbs[1]['id']}", params={"fields": "provisioning_status"})
    assert one.json() == {"loadbalancer": {"provisioning_status": "ACTIVE"}}


def test_sorting(client: TestClient, lbs: list[dict[str, Any]]) -> None:
    assert names(client, sort="name:desc") == ["lb4", "lb3", "lb2", "lb1", "lb0"]
    assert names(client, sort="admin_state_up:asc,name:desc") == \
        ["lb3", "lb1", "lb4", "lb2", "lb0"]
    assert names(client, sort_key="name", sort_dir="desc") == ["lb4", "lb3", "lb2", "lb1", "lb0"]
    assert names(client, sort_key=["description", "name"], sort_dir=["desc", "asc"]) == \
        ["lb1", "lb3", "lb0", "lb2", "lb4"]
    assert "sort key" in fault(client.get(LB_URL, params={"sort": "colour:asc"}), 400)
    assert "sort direction" in fault(client.get(LB_URL, params={"sort": "name:up"}), 400)
    fault(client.get(LB_URL, params={"sort_key": "tags"}), 400)


def walk(client: TestClient, url: str, params: dict[str, Any],
         rel: str = "next") -> list[list[str]]:
    pages = []
    resp = client.get(url, params=params)
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append([lb["name"] for lb in body["loadbalancers"]])
        links = {link["rel"]: link["href"] for link in body["loadbalancers_links"]}
        if rel not in links:
            return pages
        assert links[rel].startswith("http://testserver/")
        resp = client.get(links[rel])


def test_pagination_links_work(client: TestClient, lbs: list[dict[str, Any]]) -> None:
    # The default order is (created_at, id), as in Octavia.
    default = [lb["name"] for lb in sorted(lbs, key=lambda lb: (lb["created_at"], lb["id"]))]
    assert walk(client, LB_URL, {"limit": 2}) == [default[0:2], default[2:4], default[4:]]
    by_name = {"limit": 2, "sort": "name:asc"}
    assert walk(client, LB_URL, by_name) == [["lb0", "lb1"], ["lb2", "lb3"], ["lb4"]]
    assert walk(client, LB_URL, {"limit": 2, "sort": "name:desc"}) == \
        [["lb4", "lb3"], ["lb2", "lb1"], ["lb0"]]
    # From the last page back along the `previous` links. As in Octavia's _make_links, a
    # page reached with a marker always offers `previous`, so the walk ends on an empty page.
    assert walk(client, LB_URL, {**by_name, "marker": lbs[3]["id"]}, "previous") == \
        [["lb4"], ["lb2", "lb3"], ["lb0", "lb1"], []]
    first = client.get(LB_URL, params=by_name).json()
    assert [link["rel"] for link in first["loadbalancers_links"]] == ["next"]
    page = client.get(LB_URL, params={**by_name, "marker": lbs[1]["id"]}).json()
    assert sorted(link["rel"] for link in page["loadbalancers_links"]) == ["next", "previous"]
    assert [lb["name"] for lb in page["loadbalancers"]] == ["lb2", "lb3"]
    reverse = client.get(LB_URL, params={**by_name, "marker": lbs[2]["id"],
                                         "page_reverse": "true"}).json()
    assert [lb["name"] for lb in reverse["loadbalancers"]] == ["lb0", "lb1"]
    assert client.get(LB_URL).json()["loadbalancers_links"] == []


def test_pagination_errors(client: TestClient, lbs: list[dict[str, Any]]) -> None:
    assert fault(client.get(LB_URL, params={"marker": "nope"}), 400) == \
        "Supplied pagination marker 'nope' is not valid."
    assert "limit" in fault(client.get(LB_URL, params={"limit": "ten"}), 400)
    long_marker = fault(client.get(LB_URL, params={"marker": "m" * 10_000}), 400)
    assert len(long_marker) < 200  # the value is cut, never echoed whole


def test_marker_is_looked_up_with_the_lists_filters(client: TestClient,
                                                    lbs: list[dict[str, Any]]) -> None:
    """The marker row is read through the page's own query: a row the filters exclude
    marks no page, exactly as a row of another project or a missing one (probe F9)."""
    up = {"admin_state_up": "true", "sort": "name"}
    assert names(client, **up, marker=lbs[0]["id"]) == ["lb2", "lb4"]
    assert "marker" in fault(client.get(LB_URL, params={**up, "marker": lbs[1]["id"]}), 400)
    assert "marker" in fault(client.get(LB_URL, params={"tags": "c", "marker": lbs[0]["id"]}),
                             400)
    other = client.get(LB_URL, params={"marker": lbs[0]["id"]},
                       headers={"X-Project-Id": "another-project"})
    assert other.status_code == 200  # noauth callers are admins: every project is theirs


def test_filter_values_are_checked_against_the_column(client: TestClient,
                                                      lbs: list[dict[str, Any]]) -> None:
    """Integers beyond 64 bits overflowed SQLite (a 500); timestamps are parsed."""
    for params in ({"generation": str(2**64)}, {"generation": "-" + str(2**63 + 1)},
                   {"generation": "1.5"}, {"created_at": "yesterday"},
                   {"admin_state_up": "maybe"}):
        assert "Invalid filter value" in fault(client.get(LB_URL, params=params), 400)
    stamp = lbs[0]["created_at"]
    same = client.get(LB_URL, params={"created_at": stamp}).json()["loadbalancers"]
    assert same and {lb["created_at"] for lb in same} == {stamp}


@pytest.mark.parametrize("collection", ["listeners", "pools", "healthmonitors",
                                        "l7policies", "quotas"])
def test_empty_collections(client: TestClient, collection: str) -> None:
    resp = client.get(f"{API}/{collection}")
    assert resp.status_code == 200
    assert resp.json() == {collection: [], f"{collection}_links": []}


@pytest.mark.parametrize("collection,root,key", [
    ("loadbalancers", "loadbalancer", "lb"), ("listeners", "listener", "listener"),
    ("pools", "pool", "pool"), ("healthmonitors", "healthmonitor", "hm")])
def test_a_listed_object_is_the_object_shown(client: TestClient, worker: Worker,
                                              collection: str, root: str, key: str) -> None:
    """Lists render from plain rows (db/query.run_list(plain=True)), shows from ORM
    objects: both must give the same JSON, tags, timestamps and child ids included."""
    ids = active_tree(client, worker)
    client.put(f"{LB_URL}/{ids['lb']}", json={"loadbalancer": {"tags": ["x", "y"]}})
    worker.drain()
    listed = client.get(f"{API}/{collection}").json()[collection]
    item = next(i for i in listed if i["id"] == ids[key])
    shown = client.get(f"{API}/{collection}/{ids[key]}").json()[root]
    assert item == shown
    if key == "lb":
        assert item["tags"] == ["x", "y"] and item["listeners"] and item["pools"]
        assert item["updated_at"] is not None


def test_a_kept_list_never_hides_a_commit(client: TestClient, worker: Worker,
                                          db: Database) -> None:
    """Lists are answered from memory while the database is unchanged (api/kept.py): a
    change through the API, by the worker, or by another process writing the file (an
    `nslb` command, an operator's sqlite3) shows in the very next list."""
    subnet = vip_subnet(client)
    first = create_lb(client, subnet["id"], name="one")

    def names() -> list[tuple[str, str]]:
        rows = client.get(LB_URL).json()["loadbalancers"]
        return sorted((r["name"], r["provisioning_status"]) for r in rows)

    assert names() == [("one", "PENDING_CREATE")]
    assert names() == [("one", "PENDING_CREATE")]  # unchanged: the kept answer
    worker.drain()
    assert names() == [("one", "ACTIVE")]
    create_lb(client, subnet["id"], name="two")
    assert names() == [("one", "ACTIVE"), ("two", "PENDING_CREATE")]
    path = db.engine.url.database
    assert path
    with sqlite3.connect(path) as other:  # another process's commit, not counted in `writes`
        other.execute("UPDATE load_balancer SET name = 'renamed' WHERE id = ?",
                      (first["id"],))
    assert names() == [("renamed", "ACTIVE"), ("two", "PENDING_CREATE")]
