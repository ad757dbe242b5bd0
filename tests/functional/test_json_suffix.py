"""Octavia accepts a `.json` suffix on resource URLs."""

from __future__ import annotations

from octavia_helpers import LB_URL, active_lb
from starlette.testclient import TestClient

from nslb.worker.loop import Worker


def test_json_suffix_on_collection_and_object(client: TestClient, worker: Worker) -> None:
    lb = active_lb(client, worker)
    listing = client.get(f"{LB_URL}.json")
    assert listing.status_code == 200
    assert [x["id"] for x in listing.json()["loadbalancers"]] == [lb["id"]]
    one = client.get(f"{LB_URL}/{lb['id']}.json")
    assert one.status_code == 200 and one.json()["loadbalancer"]["id"] == lb["id"]
    assert client.get("/networking/v2.0/networks.json").status_code == 200
