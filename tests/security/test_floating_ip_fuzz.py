"""The floating IP bodies (create, update, and the network's `router:external`) meet the
fuzzer of test_fuzz.py: every field with the CORE values, every HOSTILE value somewhere,
missing and unknown fields, the envelope attacks, and hypothesis combinations. Every answer
passes fuzzing.problems (no 5xx, Neutron's fault shape, no echo of more than 100
characters of a submitted value), and after the fuzz the valid bodies still succeed and
nothing was left associated by a body that should have been refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from nslb.api.neutron import floatingips
from nslb.identity.throttle import LoginThrottle
from tests.functional.keystone_helpers import NET, Cloud, keystone_cloud
from tests.security.fuzzing import CORE, Case, encode, envelopes, fuzzed, problems, sweep

pytestmark = [pytest.mark.security, pytest.mark.timeout(600)]
FIPS = f"{NET}/floatingips"


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    url: str
    root: str
    base: Callable[[dict[str, str]], Any]
    known: tuple[str, ...]


ROUTES = [
    Route("fip-create", "POST", FIPS, "floatingip",
          lambda ids: {"floatingip": {"floating_network_id": ids["ext"],
                                      "port_id": ids["port"], "description": "d"}},
          tuple(sorted(floatingips.CREATABLE))),
    Route("fip-update", "PUT", f"{FIPS}/{{fip}}", "floatingip",
          lambda ids: {"floatingip": {"port_id": ids["port"], "fixed_ip_address": "10.3.0.50",
                                      "description": "d"}},
          tuple(sorted(floatingips.CREATABLE))),
    Route("network-external", "PUT", f"{NET}/networks/{{spare}}", "network",
          lambda ids: {"network": {"router:external": True}}, ("router:external", "name")),
]


@dataclass
class World:
    cloud: Cloud
    ids: dict[str, str]

    @property
    def client(self) -> TestClient:
        return self.cloud.client

    def send(self, route: Route, case: Case) -> list[str]:
        headers = {**case.headers, **self.cloud.admin()}
        resp = self.client.request(route.method, route.url.format(**self.ids),
                                   content=case.content, headers=headers)
        if resp.status_code == 201 and route.method == "POST":
            created = resp.json()["floatingip"]["id"]
            assert self.client.delete(f"{FIPS}/{created}",
                                      headers=self.cloud.admin()).status_code == 204
        return [f"{route.name} [{case.label[:160]}]: {p} -> {resp.status_code} "
                f"{resp.text[:240]!r}"
                for p in problems("neutron", resp.status_code, resp.content, case.sent, None)]


def _post(cloud: Cloud, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(cloud.as_admin("POST", f"{NET}/{path}", 201, json=body))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    throttle = LoginThrottle(free=1_000_000, source_free=1_000_000)
    with keystone_cloud(tmp_path_factory.mktemp("fip-fuzz"), throttle=throttle) as cloud:
        ext = _post(cloud, "networks", {"network": {
            "name": "pub", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "physnet2"}})["network"]
        _post(cloud, "subnets", {"subnet": {"network_id": ext["id"], "ip_version": 4,
                                            "cidr": "203.0.113.0/24"}})
        net = _post(cloud, "networks", {"network": {"name": "int"}})["network"]
        _post(cloud, "subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                            "cidr": "10.3.0.0/24"}})
        port = _post(cloud, "ports", {"port": {"network_id": net["id"], "fixed_ips": [
            {"ip_address": "10.3.0.50"}]}})["port"]
        spare = _post(cloud, "networks", {"network": {"name": "spare"}})["network"]
        fip = _post(cloud, "floatingips", {"floatingip": {
            "floating_network_id": ext["id"]}})["floatingip"]
        yield World(cloud, {"ext": ext["id"], "port": port["id"], "fip": fip["id"],
                            "spare": spare["id"]})


PARAMS = [pytest.param(r, id=r.name) for r in ROUTES]


def _summary(failures: list[str]) -> str:
    return f"{len(failures)} bad answers:\n" + "\n".join(failures[:30])


@pytest.mark.parametrize("route", PARAMS)
def test_every_field_meets_the_hostile_values(world: World, route: Route) -> None:
    base = route.base(world.ids)
    cases = sweep(base, {(route.root,): route.known}, CORE) + envelopes(base, route.root)
    failures = [line for item in cases for line in world.send(route, item)]
    assert not failures, _summary(failures)


@pytest.mark.parametrize("route", PARAMS)
def test_fuzzed_bodies(world: World, route: Route) -> None:
    base = route.base(world.ids)

    @settings(max_examples=40, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(item=fuzzed(base, {(route.root,): route.known}, envelopes(base, route.root)))
    def run(item: Case) -> None:
        failures = world.send(route, item)
        assert not failures, _summary(failures)

    run()


def test_the_valid_bodies_still_succeed(world: World) -> None:
    for route, status in zip(ROUTES, (201, 200, 200), strict=True):
        if route.name == "fip-create":  # the port is taken by the update's floating IP
            world.client.put(f"{FIPS}/{world.ids['fip']}", headers=world.cloud.admin(),
                             json={"floatingip": {"port_id": None}})
        resp = world.client.request(route.method, route.url.format(**world.ids),
                                    content=encode(route.base(world.ids)),
                                    headers={"content-type": "application/json",
                                             **world.cloud.admin()})
        assert resp.status_code == status, (route.name, resp.text)
        if route.name == "fip-create":  # free the port for the update
            created = resp.json()["floatingip"]
            assert created["port_id"] == world.ids["port"] and created["router_id"]
            world.client.delete(f"{FIPS}/{created['id']}", headers=world.cloud.admin())
