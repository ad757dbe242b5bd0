"""Fuzzing every POST/PUT/PATCH body of the three APIs nslb serves (probe F11, issue 14).

The probe sent 24,237 hostile bodies and got 438 answers of 500 from 7 causes, and found
more on PostgreSQL that SQLite stores without complaint. Here every route of
fuzz_routes.ROUTES meets, on SQLite and on PostgreSQL, one database per backend:

- a systematic sweep: every field with the CORE values (wrong JSON types, null, empty,
  long and huge strings, int4 overflow; on PostgreSQL instead the column edges), every
  HOSTILE value somewhere (NUL, lone surrogates, NaN, 2**63, addresses, metacharacters...),
  every field missing, an unknown field (short and long names) in every object;
- the envelope attacks (empty, not JSON, wrong roots, invalid UTF-8, BOM, deep nesting,
  NaN, 5,000-digit numbers, duplicate keys, wrong content types);
- hypothesis: random combinations of the above with generated values (derandomized, so a
  CI failure reproduces locally).

Every answer passes fuzzing.problems: never a 5xx (a 501 only where the route says nslb
answers it by design: Octavia's "Provider 'amphora' does not support a requested option"
for TLS, L7 policies, flavors, availability zones, SR-IOV, unsupported protocols and
algorithms), errors in the called API's fault shape, and no error repeating more than 100
characters of a submitted value. After a 2xx the worker is drained and what would
conflict with the next success is deleted (or the password reset), so every body meets
the same ACTIVE objects; the valid bodies still succeed at the end of a backend's run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from nslb.identity.throttle import LoginThrottle
from tests.functional.keystone_helpers import V3, Cloud, keystone_cloud
from tests.functional.test_postgres import Cluster, cluster  # noqa: F401 - fixture
from tests.security.fuzz_routes import (
    BY_DESIGN_501,
    PASSWORD,
    ROUTES,
    FuzzRoute,
    Ids,
    build_world,
)
from tests.security.fuzzing import (
    CORE,
    DB_CORE,
    Case,
    case,
    encode,
    envelopes,
    fuzzed,
    problems,
    sweep,
)

pytestmark = [pytest.mark.security, pytest.mark.timeout(600)]
SHOWN_FAILURES = 30


@dataclass
class World:
    """The app, the objects bodies refer to, the sweep's values for its database, and a
    count of what was sent. Requests go straight to the ASGI app on an event loop of this
    thread (half the time of the TestClient, which hops threads several times a request)."""

    cloud: Cloud
    ids: Ids
    core: Sequence[Any]
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    sent: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.cloud.client.app),
                                      base_url="http://fuzz")

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()

    def url(self, route: FuzzRoute) -> str:
        return route.url.format(**self.ids)

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, url, **kw))

    def send(self, route: FuzzRoute, case: Case) -> httpx.Response:
        headers = dict(case.headers)
        if route.token:
            headers["X-Auth-Token"] = self.cloud.admin_token
        resp = self.request(route.method, self.url(route), content=case.content,
                            headers=headers)
        self.sent[route.name] = self.sent.get(route.name, 0) + 1
        if resp.status_code < 300:
            self.undo(route, resp)
        return resp

    def undo(self, route: FuzzRoute, resp: httpx.Response) -> None:
        """Put the world back after a success. Octavia's worker runs first (a PENDING
        object is locked against the delete) and after (the LB is ACTIVE again)."""
        admin, octavia = self.cloud.admin(), route.api == "octavia"
        if octavia:
            self.cloud.worker.drain()
        if route.undo == "delete":
            assert route.root is not None
            created = f"{self.url(route)}/{resp.json()[route.root]['id']}"
            gone = self.request("DELETE", created, headers=admin)
            assert gone.status_code == 204, (route.name, gone.text)
            if octavia:
                self.cloud.worker.drain()
        elif route.undo == "password":
            reset = self.request("PATCH", f"{V3}/users/{self.ids['pw_user']}", headers=admin,
                                 json={"user": {"password": PASSWORD}})
            assert reset.status_code == 200, reset.text

    def check(self, route: FuzzRoute, case: Case) -> list[str]:
        """Send one body; what is wrong with the answer, one line each."""
        resp = self.send(route, case)
        return [f"{route.name} [{case.label[:160]}]: {problem} -> {resp.status_code} "
                f"{resp.text[:240]!r}"
                for problem in problems(route.api, resp.status_code, resp.content, case.sent,
                                        route.by_design_501)]


def _summary(failures: list[str]) -> str:
    shown = "\n".join(failures[:SHOWN_FAILURES])
    more = len(failures) - SHOWN_FAILURES
    return f"{len(failures)} bad answers:\n{shown}" + (f"\n... and {more} more" if more > 0
                                                       else "")


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One database per backend for the whole module; the login throttle out of the way
    (it is tested in test_identity_security; here a 429 would hide the deeper paths)."""
    db_url = None
    if request.param == "postgres":
        pg: Cluster = request.getfixturevalue("cluster")
        db_url = pg.url(pg.create_database())
    throttle = LoginThrottle(free=1_000_000, source_free=1_000_000)
    with keystone_cloud(tmp_path_factory.mktemp(f"fuzz-{request.param}"), db_url=db_url,
                        throttle=throttle) as cloud:
        world = World(cloud, build_world(cloud), DB_CORE if db_url else CORE)
        started = time.monotonic()
        yield world
        world.close()
        print(f"\nfuzz on {request.param}: {sum(world.sent.values())} requests in "
              f"{time.monotonic() - started:.1f} s ({world.sent})")


ROUTE_PARAMS = [pytest.param(route, id=route.name) for route in ROUTES]


@pytest.mark.parametrize("route", [p for p in ROUTE_PARAMS if p.values[0].sweep])
def test_every_field_meets_the_hostile_values(world: World, route: FuzzRoute) -> None:
    failures = [line for item in sweep(route.base(world.ids), route.known, world.core)
                for line in world.check(route, item)]
    assert not failures, _summary(failures)


@pytest.mark.parametrize("route", ROUTE_PARAMS)
def test_envelope_attacks(world: World, route: FuzzRoute) -> None:
    attacks = envelopes(route.base(world.ids), route.root)
    if not route.sweep:  # the handler reads no body: a few show the answer is the same
        attacks = attacks[::6]
    failures = [line for item in attacks for line in world.check(route, item)]
    assert not failures, _summary(failures)


@pytest.mark.parametrize("route", ROUTE_PARAMS)
def test_fuzzed_bodies(world: World, route: FuzzRoute) -> None:
    base = route.base(world.ids)
    attacks = envelopes(base, route.root)

    @settings(max_examples=route.examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(item=fuzzed(base, route.known, attacks))
    def run(item: Case) -> None:
        failures = world.check(route, item)
        assert not failures, _summary(failures)

    run()


def test_the_valid_bodies_succeed(world: World) -> None:
    """The bases are valid, so the mutations reach past the first check (a base that
    fails would fuzz nothing but its own error); run after the fuzz, this also shows the
    world survived it."""
    expected = {"POST": 201, "PUT": 200, "PATCH": 200}
    special = {"member-batch": 202, "quota-update": 202, "lb-failover": 202,
               "password-change": 204,
               "port-update": 405, "role-update": 405}
    for route in ROUTES:
        resp = world.send(route, Case("valid", encode(route.base(world.ids))))
        assert resp.status_code == special.get(route.name, expected[route.method]), \
            (route.name, resp.text)



# --- what the fuzz found, as focused cases ------------------------------------------

V = "v" * 200  # within the 255 the schemas allow, too long for a message to repeat


def _tree_with(ids: Ids, listener: dict[str, Any], pools: list[Any]) -> Any:
    return {"loadbalancer": {"vip_subnet_id": ids["vip_subnet"], "listeners": [listener],
                             "pools": pools}}


REGRESSIONS = [
    # Octavia repeated a user's value in full in these messages (up to 255 characters,
    # 100 KB for a default_pool reference, which no schema bounds)
    pytest.param("lb-create", lambda ids: {"loadbalancer": {
        "vip_subnet_id": ids["vip_subnet"], "vip_vnic_type": V}}, 501,
        id="vip_vnic_type-501"),
    pytest.param("lb-tree-create", lambda ids: _tree_with(ids, {
        "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "x" * 100_000}},
        []), 400, id="tree-default_pool-reference"),
    pytest.param("lb-tree-create", lambda ids: _tree_with(ids, {
        "protocol": "HTTP", "protocol_port": 80}, [
            {"name": V, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"},
            {"name": V, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]), 400,
        id="tree-duplicate-pool-name"),
    pytest.param("listener-create", lambda ids: {"listener": {
        "loadbalancer_id": ids["lb"], "protocol": "HTTP", "protocol_port": 8081,
        "insert_headers": {V: "true"}}}, 400, id="insert_headers-unknown-header"),
    # Neutron named every unknown attribute in full
    pytest.param("network-create", lambda ids: {"network": {V: 1, **{
        f"x{i}": 1 for i in range(1000)}}}, 400, id="network-unknown-attributes"),
    pytest.param("port-create", lambda ids: {"port": {
        "network_id": ids["port_network"], V: 1}}, 400, id="port-unknown-attribute"),
    pytest.param("subnet-update", lambda ids: {"subnet": {V: 1}}, 400,
                 id="subnet-update-unknown-attribute"),
]
BY_NAME = {route.name: route for route in ROUTES}


@pytest.mark.parametrize(("name", "body", "status"), REGRESSIONS)
def test_what_the_fuzz_found(world: World, name: str, body: Any, status: int) -> None:
    route = BY_NAME[name]
    sent = case(name, body(world.ids))
    resp = world.send(route, sent)
    assert resp.status_code == status, resp.text
    assert problems(route.api, resp.status_code, resp.content, sent.sent,
                    route.by_design_501) == []
    assert len(resp.content) < 600, resp.text  # named, cut, and at most a few names


def test_the_checks_catch_what_the_probe_saw() -> None:
    """The checker itself: a 500, a 501 outside the by-design list, a wrong shape and a
    10 MB echo are all reported; well-formed answers are not."""
    octavia = b'{"faultcode": "Client", "faultstring": "bad", "debuginfo": null}'
    assert problems("octavia", 400, octavia, (), None) == []
    assert problems("octavia", 500, octavia.replace(b"Client", b"Server"), (), None)
    assert problems("neutron", 501, b'{"NeutronError": {"type": "x", "message": "m", '
                                    b'"detail": ""}}', (), None)
    assert problems("octavia", 501, b'{"faultcode": "Server", "faultstring": "other", '
                                    b'"debuginfo": null}', (), BY_DESIGN_501)
    assert problems("neutron", 400, octavia, (), None) == ["not neutron's fault shape"]
    assert problems("keystone", 404, b'{"error": {"code": 400, "title": "x", '
                                     b'"message": "m"}}', (), None)
    assert problems("octavia", 400, b"<html>", (), None) == ["error body is not JSON"]
    value = "a" * 20 + "b" * 10_000
    echoed = ('{"faultcode": "Client", "faultstring": "Value: ' + value[:5000]
              + '", "debuginfo": null}').encode()
    found = problems("octavia", 400, echoed, (value,), None)
    assert len(found) == 1 and found[0].startswith("echoes 101+ characters")
    cut = echoed.replace(value[:5000].encode(), value[:64].encode() + b"...")
    assert problems("octavia", 400, cut, (value,), None) == []
