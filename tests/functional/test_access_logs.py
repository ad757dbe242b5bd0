"""connection_logging through the API: Octavia's default (on), off per listener, null back
to the default, and what the worker renders for each (a host that collects access logs)."""

from __future__ import annotations

import dataclasses

import pytest
from octavia_helpers import LISTENER_URL, active_lb, create_listener, fault, listener
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.model.bundle import HostFacts
from nslb.worker.loop import Worker


class CollectingHost(NoopDriver):
    """The noop driver on a host whose nslb collects access logs."""

    def facts(self) -> HostFacts:
        return dataclasses.replace(super().facts(), access_logs=True)


@pytest.fixture
def driver() -> NoopDriver:
    return CollectingHost()


def _frontend(driver: NoopDriver, lb_id: str, listener_id: str) -> str:
    config = driver.applied[lb_id].files["haproxy.cfg"]
    return config.split(f"frontend {listener_id}\n", 1)[1].split("\n\n", 1)[0]


def test_connection_logging_defaults_on_and_turns_off(client: TestClient, worker: Worker,
                                                      driver: NoopDriver) -> None:
    lb = active_lb(client, worker)
    web = create_listener(client, lb["id"], protocol_port=80)
    worker.drain()
    quiet = create_listener(client, lb["id"], protocol_port=81, protocol="TCP",
                            connection_logging=False)
    assert web["connection_logging"] is True and quiet["connection_logging"] is False
    worker.drain()
    logged = _frontend(driver, lb["id"], web["id"])
    assert "    log ring@access len 4096 format rfc5424 local0 info" in logged
    assert "\nring access\n    format rfc5424\n" in driver.applied[lb["id"]].files["haproxy.cfg"]
    assert f" {lb['id']} %f %ci %cp %t \"%HM %HPO %HV\" %ST " in logged
    assert " log" not in _frontend(driver, lb["id"], quiet["id"])

    resp = client.put(f"{LISTENER_URL}/{quiet['id']}",
                      json={"listener": {"connection_logging": None}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["listener"]["connection_logging"] is True  # null: the default
    worker.drain()
    resp = client.put(f"{LISTENER_URL}/{web['id']}",
                      json={"listener": {"connection_logging": False}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert listener(client, web["id"])["connection_logging"] is False
    assert " log" not in _frontend(driver, lb["id"], web["id"])
    tcp = _frontend(driver, lb["id"], quiet["id"])
    assert f" {lb['id']} %f %ci %cp %t - - %B %U " in tcp


def test_connection_logging_must_be_a_boolean(client: TestClient, worker: Worker) -> None:
    lb = active_lb(client, worker)
    resp = client.post(LISTENER_URL, json={"listener": {
        "protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": lb["id"],
        "connection_logging": "sometimes"}})
    assert "connection_logging" in fault(resp, 400)
