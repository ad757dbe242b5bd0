"""Health monitors: cascade (LB, listener and pool PENDING_UPDATE), one per pool, the type
rules and Octavia's PUT defaults."""

from __future__ import annotations

from typing import Any

from octavia_helpers import (
    HM_URL,
    LISTENER_URL,
    active_tree,
    create_hm,
    fault,
    hm,
    immutable,
    lb,
    listener,
    member,
    pool,
    prov,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.worker.loop import Worker

HM_KEYS = {
    "id", "name", "provisioning_status", "operating_status", "admin_state_up", "project_id",
    "tenant_id", "created_at", "updated_at", "tags", "type", "delay", "timeout", "max_retries",
    "max_retries_down", "http_method", "url_path", "expected_codes", "http_version",
    "domain_name", "pools",
}


def parents(client: TestClient, ids: dict[str, str]) -> list[str]:
    return [prov(lb(client, ids["lb"])), prov(listener(client, ids["listener"])),
            prov(pool(client, ids["pool"]))]


def test_create_update_delete_cascade(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    created = create_hm(client, ids["pool"], name="check")
    assert set(created) == HM_KEYS
    assert prov(created) == "PENDING_CREATE"
    assert (created["http_method"], created["url_path"], created["expected_codes"],
            created["max_retries_down"]) == ("GET", "/", "200", 3)
    assert created["pools"] == [{"id": ids["pool"]}]
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()
    assert parents(client, ids) == ["ACTIVE"] * 3
    assert prov(hm(client, created["id"])) == "ACTIVE"
    assert pool(client, ids["pool"])["healthmonitor_id"] == created["id"]

    url = f"{HM_URL}/{created['id']}"
    resp = client.put(url, json={"healthmonitor": {
        "delay": 10, "expected_codes": "200-204", "http_version": 1.1,
        "domain_name": "example.com"}})
    assert resp.status_code == 200, resp.text
    body = resp.json()["healthmonitor"]
    assert (prov(body), body["delay"], body["expected_codes"], body["domain_name"]) == \
        ("PENDING_UPDATE", 10, "200-204", "example.com")
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()

    # Octavia's _set_default_on_none: null puts the HTTP defaults back.
    resp = client.put(url, json={"healthmonitor": {
        "http_method": None, "url_path": None, "expected_codes": None,
        "max_retries_down": None}})
    assert resp.status_code == 200, resp.text
    body = resp.json()["healthmonitor"]
    assert (body["http_method"], body["url_path"], body["expected_codes"],
            body["max_retries_down"]) == ("GET", "/", "200", 3)
    worker.drain()
    fault(client.put(url, json={"healthmonitor": {"delay": None}}), 400)

    assert client.delete(url).status_code == 204
    assert prov(hm(client, created["id"])) == "PENDING_DELETE"
    assert parents(client, ids) == ["PENDING_UPDATE"] * 3
    worker.drain()
    fault(client.get(url), 404)
    assert parents(client, ids) == ["ACTIVE"] * 3
    assert "healthmonitor_id" not in pool(client, ids["pool"])  # Octavia leaves it out


def test_second_hm_is_409(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    resp = client.post(HM_URL, json={"healthmonitor": {
        "pool_id": ids["pool"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}})
    assert fault(resp, 409) == "This pool already has a health monitor"
    assert len(client.get(HM_URL).json()["healthmonitors"]) == 1
    assert parents(client, ids) == ["ACTIVE"] * 3


def test_locks(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    assert client.put(f"{LISTENER_URL}/{ids['listener']}",
                      json={"listener": {"name": "x"}}).status_code == 200
    url = f"{HM_URL}/{ids['hm']}"
    immutable(client.put(url, json={"healthmonitor": {"delay": 99}}), ids["lb"])
    immutable(client.delete(url), ids["lb"])
    assert hm(client, ids["hm"])["delay"] == 5
    assert prov(hm(client, ids["hm"])) == "ACTIVE"
    worker.drain()


def test_failed_apply_and_error_hm_is_deletable(client: TestClient, worker: Worker,
                                                driver: NoopDriver) -> None:
    ids = active_tree(client, worker, hm_too=False)
    created = create_hm(client, ids["pool"])
    driver.fail_next[ids["lb"]] = "boom"
    worker.drain()
    assert prov(hm(client, created["id"])) == "ERROR"
    assert prov(lb(client, ids["lb"])) == "ACTIVE"
    for kind, url in (("listener", f"{LISTENER_URL}/{ids['listener']}"),
                      ("pool", f"/v2/lbaas/pools/{ids['pool']}")):
        if prov(client.get(url).json()[kind]) == "ERROR":  # see the xfail in test_pools.py
            client.put(url, json={kind: {}})
            worker.drain()
    assert client.delete(f"{HM_URL}/{created['id']}").status_code == 204
    worker.drain()
    fault(client.get(f"{HM_URL}/{created['id']}"), 404)
    assert prov(member(client, ids["pool"], ids["member"])) == "ACTIVE"


HM_RULES: list[tuple[dict[str, Any], int, str]] = [
    ({"type": "TCP", "url_path": "/x"}, 400, "url_path"),
    ({"type": "TCP", "http_method": "GET"}, 400, "http_method"),
    ({"type": "PING", "expected_codes": "200"}, 400, "expected_codes"),
    ({"domain_name": "example.com"}, 400,
     "Validation failure: 'http_version' must be specified when 'domain_name' is provided."),
    ({"domain_name": "example.com", "http_version": 1.0}, 400,
     "http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name "
     "health check"),
    # Octavia's API refuses these on an HTTP pool before any provider is asked
    ({"type": "UDP-CONNECT"}, 400,
     "Validation failure: The UDP-CONNECT type is only supported for pools of type UDP/SCTP."),
    ({"type": "SCTP"}, 400,
     "Validation failure: The SCTP type is only supported for pools of type UDP/SCTP."),
]


def test_hm_rules(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    for attrs, status, words in HM_RULES:
        resp = client.post(HM_URL, json={"healthmonitor": {
            "pool_id": ids["pool"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
            **attrs}})
        assert words in fault(resp, status), attrs
    assert client.get(HM_URL).json()["healthmonitors"] == []
    assert parents(client, ids) == ["ACTIVE"] * 3


def test_supported_types(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    for kind in ("HTTP", "HTTPS", "TCP", "TLS-HELLO", "PING"):
        created = create_hm(client, ids["pool"], type=kind)
        http = kind in ("HTTP", "HTTPS")
        assert (created["url_path"] is not None) == http
        worker.drain()
        assert prov(hm(client, created["id"])) == "ACTIVE"
        assert client.delete(f"{HM_URL}/{created['id']}").status_code == 204
        worker.drain()


def test_tcp_hm_update_refuses_http_fields_even_null(client: TestClient,
                                                     worker: Worker) -> None:
    ids = active_tree(client, worker, hm_too=False)
    created = create_hm(client, ids["pool"], type="TCP")
    worker.drain()
    url = f"{HM_URL}/{created['id']}"
    fault(client.put(url, json={"healthmonitor": {"http_method": None}}), 400)
    fault(client.put(url, json={"healthmonitor": {"url_path": "/x"}}), 400)
    assert hm(client, created["id"])["http_method"] is None
    assert prov(hm(client, created["id"])) == "ACTIVE"


def test_a_settled_monitor_is_online_when_enabled_and_offline_when_not(
        client: TestClient, worker: Worker) -> None:
    """As Octavia's MarkHealthMonitorActiveInDB: the write that makes a monitor ACTIVE makes
    it ONLINE (or OFFLINE when disabled), with updated_at, whatever the driver."""
    ids = active_tree(client, worker, hm_too=False)
    created = create_hm(client, ids["pool"])
    assert created["operating_status"] == "OFFLINE"
    worker.drain()
    settled = hm(client, created["id"])
    assert (prov(settled), settled["operating_status"]) == ("ACTIVE", "ONLINE")
    assert settled["updated_at"] is not None
    url = f"{HM_URL}/{created['id']}"
    resp = client.put(url, json={"healthmonitor": {"admin_state_up": False}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert hm(client, created["id"])["operating_status"] == "OFFLINE"
    resp = client.put(url, json={"healthmonitor": {"admin_state_up": True}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert hm(client, created["id"])["operating_status"] == "ONLINE"
