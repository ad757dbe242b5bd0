"""Real traffic through a NamespaceDriver LB: balancing, weights, backups, headers, ACLs."""

from __future__ import annotations

import time
from collections import Counter

from tests.integration.conftest import Lab, TrackingDriver
from tests.snapshots import http_lb, with_member

VIP_URL = "http://10.250.1.10:80/"
BACKENDS = ["10.250.1.21", "10.250.1.22", "10.250.1.23"]


def _backends(lab: Lab, count: int) -> None:
    for i in range(count):
        ns = lab.host(f"be{i + 1}", [f"{BACKENDS[i]}/24"])
        lab.serve(ns, f"be{i + 1}")


def test_first_apply_serves_and_round_robin_spreads(lab: Lab, driver: TrackingDriver) -> None:
    _backends(lab, 2)
    client = lab.host("cl", ["10.250.1.50/24"])
    snap = http_lb([(BACKENDS[0], {}), (BACKENDS[1], {})])
    started = time.monotonic()
    driver.apply(snap)
    applied = time.monotonic() - started
    names = lab.names(client, VIP_URL, 10)
    assert Counter(names) == {"be1": 5, "be2": 5}, names
    assert applied < 2.0, f"first apply took {applied:.3f}s"


def test_apply_twice_is_a_noop_that_keeps_the_worker(lab: Lab, driver: TrackingDriver) -> None:
    _backends(lab, 1)
    snap = http_lb([(BACKENDS[0], {})])
    driver.apply(snap)
    before = driver.observe(snap.lb.id).process_start
    driver.apply(snap)
    assert driver.observe(snap.lb.id).process_start == before


def test_weight_zero_gets_no_traffic(lab: Lab, driver: TrackingDriver) -> None:
    _backends(lab, 2)
    client = lab.host("cl", ["10.250.1.50/24"])
    snap = http_lb([(BACKENDS[0], {}), (BACKENDS[1], {})])
    driver.apply(snap)
    worker = driver.observe(snap.lb.id).process_start
    driver.apply(with_member(snap, 1, weight=0))
    assert set(lab.names(client, VIP_URL, 8)) == {"be1"}
    # a weight change goes through the runtime API: same worker, counters not reset
    assert driver.observe(snap.lb.id).process_start == worker


def test_admin_down_member_gets_no_traffic_and_comes_back(lab: Lab,
                                                          driver: TrackingDriver) -> None:
    _backends(lab, 2)
    client = lab.host("cl", ["10.250.1.50/24"])
    snap = http_lb([(BACKENDS[0], {}), (BACKENDS[1], {})])
    driver.apply(snap)
    down = with_member(snap, 1, admin_state_up=False)
    driver.apply(down)
    assert set(lab.names(client, VIP_URL, 6)) == {"be1"}
    assert driver.observe(snap.lb.id).members[snap.members[1].id] == "MAINT"
    driver.apply(with_member(down, 1, admin_state_up=True))
    assert set(lab.names(client, VIP_URL, 6)) == {"be1", "be2"}


def test_backup_serves_only_when_primary_is_down(lab: Lab, driver: TrackingDriver) -> None:
    _backends(lab, 2)
    client = lab.host("cl", ["10.250.1.50/24"])
    snap = http_lb([(BACKENDS[0], {}), (BACKENDS[1], {"backup": True})])
    driver.apply(snap)
    assert set(lab.names(client, VIP_URL, 6)) == {"be1"}
    driver.apply(with_member(snap, 0, admin_state_up=False))
    assert set(lab.names(client, VIP_URL, 6)) == {"be2"}


def test_x_forwarded_headers_reach_the_backend(lab: Lab, driver: TrackingDriver) -> None:
    _backends(lab, 1)
    client = lab.host("cl", ["10.250.1.50/24"])
    headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "true",
               "X-Forwarded-Proto": "true"}
    driver.apply(http_lb([(BACKENDS[0], {})], listener={"insert_headers": headers}))
    seen = lab.probe(client, VIP_URL)[0]["headers"]
    assert seen["x-forwarded-for"] == "10.250.1.50"
    assert seen["x-forwarded-port"] == "80"
    assert seen["x-forwarded-proto"] == "http"


def test_allowed_cidrs_refuse_other_sources(lab: Lab, driver: TrackingDriver) -> None:
    _backends(lab, 1)
    allowed = lab.host("cl", ["10.250.1.50/24"])
    other = lab.host("cx", ["10.250.1.51/24"])
    driver.apply(http_lb([(BACKENDS[0], {})],
                         listener={"allowed_cidrs": ["10.250.1.50/32", "fd00:250::/64"]}))
    assert lab.names(allowed, VIP_URL, 2) == ["be1", "be1"]
    assert lab.names(other, VIP_URL, 2) == ["error", "error"]


def test_ipv6_vip(lab: Lab, driver: TrackingDriver) -> None:
    ns = lab.host("be1", ["fd00:250::21/64"])
    lab.serve(ns, "be1")
    client = lab.host("cl", ["fd00:250::50/64"])
    driver.apply(http_lb([("fd00:250::21", {})], vip="fd00:250::10", cidr="fd00:250::/64",
                         listener={"insert_headers": {"X-Forwarded-For": "true"}}))
    answers = lab.probe(client, "http://[fd00:250::10]:80/", 2)
    assert [a.get("name") for a in answers] == ["be1", "be1"], answers
    assert answers[0]["headers"]["x-forwarded-for"] == "fd00:250::50"
