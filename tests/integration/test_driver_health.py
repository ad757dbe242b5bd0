"""Health monitoring seen through observe(), with real backends going away and coming back."""

from __future__ import annotations

from tests.integration.conftest import Lab, TrackingDriver, wait_for
from tests.snapshots import http_lb

VIP_URL = "http://10.250.1.10:80/"


def test_killed_member_goes_down_gets_no_traffic_and_comes_back(lab: Lab,
                                                                driver: TrackingDriver) -> None:
    ns1 = lab.host("be1", ["10.250.1.21/24"])
    lab.serve(ns1, "be1")
    ns2 = lab.host("be2", ["10.250.1.22/24"])
    be2 = lab.serve(ns2, "be2")
    client = lab.host("cl", ["10.250.1.50/24"])
    snap = http_lb([("10.250.1.21", {}), ("10.250.1.22", {})],
                   monitor={"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                            "max_retries_down": 1, "url_path": "/health"})
    driver.apply(snap)
    m1, m2 = (m.id for m in snap.members)
    assert wait_for(lambda: driver.observe(snap.lb.id).members == {m1: "UP", m2: "UP"}, 5)
    lab.stop(be2)
    assert wait_for(lambda: driver.observe(snap.lb.id).members.get(m2) == "DOWN", 5)
    assert set(lab.names(client, VIP_URL, 6)) == {"be1"}
    observation = driver.observe(snap.lb.id)
    listener = snap.listeners[0].id
    assert observation.listeners == {listener: "OPEN"}
    assert observation.counters[listener].total_connections >= 6
    lab.serve(ns2, "be2")
    assert wait_for(lambda: driver.observe(snap.lb.id).members.get(m2) == "UP", 5)
    assert set(lab.names(client, VIP_URL, 6)) == {"be1", "be2"}


def test_members_without_monitor_report_no_check(lab: Lab, driver: TrackingDriver) -> None:
    lab.serve(lab.host("be1", ["10.250.1.21/24"]), "be1")
    snap = http_lb([("10.250.1.21", {})])
    driver.apply(snap)
    assert driver.observe(snap.lb.id).members == {snap.members[0].id: "no check"}
