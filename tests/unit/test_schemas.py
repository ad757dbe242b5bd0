"""Request validation: every enum and range of the Octavia schemas, through pydantic and a
few through HTTP (where the 400 must be Octavia's fault body)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from starlette.testclient import TestClient

from nslb.api.http import describe
from nslb.api.octavia import schemas as s
from nslb.model import enums

UUID = "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"

LISTENER = {"protocol": "HTTP", "protocol_port": 80, "loadbalancer_id": UUID}
POOL = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": UUID}
MEMBER = {"address": "10.0.0.5", "protocol_port": 80}
HM = {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3, "pool_id": UUID}
LB = {"vip_subnet_id": UUID}


def ok(schema: type[BaseModel], base: dict[str, Any], **changes: Any) -> BaseModel:
    return schema.model_validate({**base, **changes})


def bad(schema: type[BaseModel], base: dict[str, Any], **changes: Any) -> str:
    with pytest.raises(ValidationError) as info:
        schema.model_validate({**base, **changes})
    return describe(info.value, "x")


# --- enums -------------------------------------------------------------------------------

ENUMS: list[tuple[type[BaseModel], dict[str, Any], str, list[str]]] = [
    (s.ListenerCreate, LISTENER, "protocol",
     ["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"]),
    (s.PoolCreate, POOL, "protocol", ["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP"]),
    (s.PoolCreate, POOL, "lb_algorithm",
     ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]),
    (s.HealthMonitorCreate, HM, "type",
     ["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]),
    (s.HealthMonitorCreate, HM, "http_method",
     ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]),
    (s.ListenerCreate, LISTENER, "client_authentication", ["NONE", "OPTIONAL", "MANDATORY"]),
]


@pytest.mark.parametrize(("schema", "base", "field", "values"), ENUMS,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_enum_accepts_octavia_values_only(schema: type[BaseModel], base: dict[str, Any],
                                          field: str, values: list[str]) -> None:
    for value in values:
        assert getattr(ok(schema, base, **{field: value}), field) == value
    for wrong in ("", "http", values[0].lower(), "BOGUS", values[0] + " "):
        message = bad(schema, base, **{field: wrong})
        assert f"Invalid input for field/attribute {field}." in message
    bad(schema, base, **{field: 1})


def test_session_persistence_type() -> None:
    for kind in ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"):
        pool = ok(s.PoolCreate, POOL, session_persistence={"type": kind})
        assert isinstance(pool, s.PoolCreate) and pool.session_persistence is not None
        assert pool.session_persistence.type == kind
    assert "session_persistence.type" in bad(s.PoolCreate, POOL,
                                             session_persistence={"type": "COOKIE"})
    bad(s.PoolCreate, POOL, session_persistence={})
    bad(s.PoolCreate, POOL, session_persistence={"type": "APP_COOKIE",
                                                  "cookie_name": "bad name"})
    bad(s.PoolCreate, POOL, session_persistence={"type": "SOURCE_IP", "extra": 1})


def test_the_enums_match_octavia_lib() -> None:
    assert {m.value for m in enums.SessionPersistenceType} == {"SOURCE_IP", "HTTP_COOKIE",
                                                               "APP_COOKIE"}
    assert len(enums.HttpMethod) == 9


# --- ranges ------------------------------------------------------------------------------

RANGES: list[tuple[type[BaseModel], dict[str, Any], str, list[int], list[int]]] = [
    (s.ListenerCreate, LISTENER, "protocol_port", [1, 80, 65535], [0, -1, 65536]),
    (s.MemberCreate, MEMBER, "protocol_port", [1, 65535], [0, 65536]),
    (s.MemberCreate, MEMBER, "monitor_port", [1, 65535], [0, 65536]),
    (s.MemberCreate, MEMBER, "weight", [0, 1, 256], [-1, 257]),
    (s.MemberUpdate, {}, "weight", [0, 256], [-1, 257]),
    (s.HealthMonitorCreate, HM, "max_retries", [1, 10], [0, 11]),
    (s.HealthMonitorCreate, HM, "max_retries_down", [1, 10], [0, 11]),
    (s.HealthMonitorUpdate, {}, "max_retries", [1, 10], [0, 11]),
    # HAProxy refuses `inter 0s` and timers beyond 2**31-1 ms (probe F4).
    (s.HealthMonitorCreate, HM, "delay", [1, 2147483], [-1, 0, 2147484, 2147483647]),
    (s.HealthMonitorCreate, HM, "timeout", [0, 60, 2147483], [-1, 2147484]),
    (s.HealthMonitorUpdate, {}, "delay", [1, 2147483], [0, 2147484]),
    # Integers beyond 64 bits were a 500 (probe F11).
    (s.ListenerCreate, LISTENER, "connection_limit", [-1, 0, 50000, 2147483647],
     [-2, 2147483648, 9223372036854775808]),
    (s.ListenerUpdate, {}, "connection_limit", [-1, 2147483647], [9223372036854775808]),
    (s.QuotaUpdate, {}, "listener", [-1, 0, 10], [-2]),
    *[(s.ListenerCreate, LISTENER, name, [0, 2073600000], [-1, 2073600001])
      for name in ("timeout_client_data", "timeout_member_connect", "timeout_member_data",
                   "timeout_tcp_inspect")],
    *[(s.ListenerUpdate, {}, name, [0, 2073600000], [-1, 2073600001])
      for name in ("timeout_client_data", "timeout_tcp_inspect")],
]


@pytest.mark.parametrize(("schema", "base", "field", "good", "wrong"), RANGES,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_ranges(schema: type[BaseModel], base: dict[str, Any], field: str, good: list[int],
                wrong: list[int]) -> None:
    for value in good:
        assert getattr(ok(schema, base, **{field: value}), field) == value
    for value in wrong:
        message = bad(schema, base, **{field: value})
        assert message.startswith(f"Invalid input for field/attribute {field}. "
                                  f"Value: '{value}'.")
    bad(schema, base, **{field: "many"})


def test_max_timeout_is_24_days_in_ms() -> None:
    assert s.MAX_TIMEOUT == 2073600000


@pytest.mark.parametrize(("schema", "base"), [
    (s.LoadBalancerCreate, LB), (s.ListenerCreate, LISTENER), (s.PoolCreate, POOL),
    (s.MemberCreate, MEMBER), (s.HealthMonitorCreate, HM), (s.LoadBalancerUpdate, {}),
    (s.PoolUpdate, {}), (s.MemberUpdate, {}), (s.HealthMonitorUpdate, {}),
])
def test_name_is_at_most_255_and_tags_too(schema: type[BaseModel], base: dict[str, Any]) -> None:
    assert ok(schema, base, name="n" * 255).model_dump()["name"] == "n" * 255
    assert "name" in bad(schema, base, name="n" * 256)
    ok(schema, base, tags=["t" * 255])
    bad(schema, base, tags=["t" * 256])
    bad(schema, base, tags="not-a-list")


@pytest.mark.parametrize(("schema", "base"), [
    (s.LoadBalancerCreate, LB), (s.ListenerCreate, LISTENER), (s.PoolCreate, POOL)])
def test_description_is_at_most_255(schema: type[BaseModel], base: dict[str, Any]) -> None:
    ok(schema, base, description="d" * 255)
    bad(schema, base, description="d" * 256)


# --- health monitor strings ----------------------------------------------------------------


@pytest.mark.parametrize("codes", ["200", "200,202", "200, 202,204", "200-204", "418"])
def test_expected_codes_good(codes: str) -> None:
    hm = ok(s.HealthMonitorCreate, HM, expected_codes=codes)
    assert hm.model_dump()["expected_codes"] == codes


@pytest.mark.parametrize("codes", ["", "20", "2000", "200-", "200-204,300", "abc", "200;202",
                                   "200,", "-200", "200 - 204",
                                   # probe F13: a backwards range; non-ASCII digits; newlines
                                   "200-100", "\u0662\u0660\u0660", "200\n", "200,\n201",
                                   "099", "600"])
def test_expected_codes_bad(codes: str) -> None:
    assert "expected_codes" in bad(s.HealthMonitorCreate, HM, expected_codes=codes)
    bad(s.HealthMonitorUpdate, {}, expected_codes=codes)


@pytest.mark.parametrize("path", ["/", "/healthz", "/a/b?x=1", "/status.html"])
def test_url_path_good(path: str) -> None:
    assert ok(s.HealthMonitorCreate, HM, url_path=path).model_dump()["url_path"] == path


@pytest.mark.parametrize("path", ["", "healthz", "http://example.com/", "/with space", "/a\tb",
                                  # probe F2: env expansion, comments, escapes, quotes, NUL
                                  '/"${NSLB_DB}"', "/${HOME}", "/x\r\nX-Injected:\\x20yes",
                                  "/x\\x0aINJESC", "/x#INJH", '/x"INJQ', "/x'INJSQ", "/x\u0000y",
                                  "/%zz", "/caf\u00e9", "//" + "a" * 2048])
def test_url_path_bad(path: str) -> None:
    assert "url_path" in bad(s.HealthMonitorCreate, HM, url_path=path)


def test_http_version() -> None:
    for version in (1.0, 1.1, "1.1"):
        assert ok(s.HealthMonitorCreate, HM, http_version=version).model_dump()[
            "http_version"] == float(version)
    for wrong in (2.0, 0.9, 1.2, "x"):
        assert "http_version" in bad(s.HealthMonitorCreate, HM, http_version=wrong)


@pytest.mark.parametrize("name", ["example.com", "a.b-c.example", "localhost", "x" * 63])
def test_domain_name_good(name: str) -> None:
    assert ok(s.HealthMonitorCreate, HM, domain_name=name).model_dump()["domain_name"] == name


@pytest.mark.parametrize("name", ["", "bad domain", "x" * 64, "a..b", "ex/ample.com", "é.com"])
def test_domain_name_bad(name: str) -> None:
    assert "domain_name" in bad(s.HealthMonitorCreate, HM, domain_name=name)


# --- UUIDs, IPs and CIDRs -----------------------------------------------------------------

UUID_FIELDS: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (s.LoadBalancerCreate, {}, "vip_subnet_id"),
    (s.LoadBalancerCreate, {}, "vip_network_id"),
    (s.LoadBalancerCreate, {}, "vip_port_id"),
    (s.ListenerCreate, {k: v for k, v in LISTENER.items() if k != "loadbalancer_id"},
     "loadbalancer_id"),
    (s.ListenerCreate, LISTENER, "default_pool_id"),
    (s.PoolCreate, POOL, "listener_id"),
    (s.MemberCreate, MEMBER, "subnet_id"),
    (s.HealthMonitorCreate, {k: v for k, v in HM.items() if k != "pool_id"}, "pool_id"),
]


@pytest.mark.parametrize(("schema", "base", "field"), UUID_FIELDS,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_uuid_fields(schema: type[BaseModel], base: dict[str, Any], field: str) -> None:
    for good in (UUID, UUID.upper(), UUID.replace("-", "")):
        assert getattr(ok(schema, base, **{field: good}), field) == good
    for wrong in ("not-a-uuid", UUID[:-1], UUID + "0", "g" * 32):
        assert field in bad(schema, base, **{field: wrong})


@pytest.mark.parametrize(("schema", "base", "field"), [
    (s.MemberCreate, {"protocol_port": 80}, "address"),
    (s.MemberCreate, MEMBER, "monitor_address"),
    (s.LoadBalancerCreate, LB, "vip_address"),
])
def test_ip_fields(schema: type[BaseModel], base: dict[str, Any], field: str) -> None:
    assert getattr(ok(schema, base, **{field: "192.0.2.1"}), field) == "192.0.2.1"
    assert getattr(ok(schema, base, **{field: "2001:DB8::1"}), field) == "2001:db8::1"
    for wrong in ("192.0.2.256", "192.0.2", "host.example", "10.0.0.0/24", ""):
        assert field in bad(schema, base, **{field: wrong})


def test_allowed_cidrs() -> None:
    listener = ok(s.ListenerCreate, LISTENER, allowed_cidrs=["10.0.0.0/8", "2001:db8::/32",
                                                            "192.0.2.1"])
    assert listener.model_dump()["allowed_cidrs"] == ["10.0.0.0/8", "2001:db8::/32",
                                                  "192.0.2.1/32"]
    for wrong in ("10.0.0.0/33", "banana", "10.0.0.300/24"):
        assert "allowed_cidrs" in bad(s.ListenerCreate, LISTENER, allowed_cidrs=[wrong])
    bad(s.ListenerUpdate, {}, allowed_cidrs=["nope"])


# --- required fields and unknown attributes ----------------------------------------------


@pytest.mark.parametrize(("schema", "base", "field"), [
    (s.ListenerCreate, LISTENER, "protocol"), (s.ListenerCreate, LISTENER, "protocol_port"),
    (s.ListenerCreate, LISTENER, "loadbalancer_id"), (s.PoolCreate, POOL, "protocol"),
    (s.PoolCreate, POOL, "lb_algorithm"), (s.MemberCreate, MEMBER, "address"),
    (s.MemberCreate, MEMBER, "protocol_port"), (s.HealthMonitorCreate, HM, "type"),
    (s.HealthMonitorCreate, HM, "delay"), (s.HealthMonitorCreate, HM, "timeout"),
    (s.HealthMonitorCreate, HM, "max_retries"), (s.HealthMonitorCreate, HM, "pool_id"),
])
def test_mandatory_fields(schema: type[BaseModel], base: dict[str, Any], field: str) -> None:
    data = {k: v for k, v in base.items() if k != field}
    with pytest.raises(ValidationError) as info:
        schema.model_validate(data)
    assert describe(info.value, "x") == (f"Invalid input for field/attribute {field}. "
                                         "Value: 'None'. Mandatory field missing.")


@pytest.mark.parametrize(("schema", "base"), [
    (s.LoadBalancerCreate, LB), (s.ListenerCreate, LISTENER), (s.PoolCreate, POOL),
    (s.MemberCreate, MEMBER), (s.HealthMonitorCreate, HM), (s.QuotaUpdate, {}),
    (s.ListenerUpdate, {}),
])
def test_unknown_attribute(schema: type[BaseModel], base: dict[str, Any]) -> None:
    assert bad(schema, base, bogus=1) == ("Invalid input for field/attribute x. "
                                          "Unknown attribute: bogus")


@pytest.mark.parametrize(("schema", "field"), [
    (s.ListenerUpdate, "protocol"), (s.ListenerUpdate, "protocol_port"),
    (s.ListenerUpdate, "loadbalancer_id"), (s.PoolUpdate, "protocol"),
    (s.PoolUpdate, "listener_id"), (s.MemberUpdate, "address"),
    (s.MemberUpdate, "protocol_port"), (s.HealthMonitorUpdate, "type"),
    (s.HealthMonitorUpdate, "pool_id"), (s.LoadBalancerUpdate, "vip_address"),
    (s.LoadBalancerUpdate, "provider"),
])
def test_immutable_fields_are_refused_on_put(schema: type[BaseModel], field: str) -> None:
    assert "Unknown attribute" in bad(schema, {}, **{field: "x"})


def test_defaults_on_create() -> None:
    pool = s.PoolCreate.model_validate(POOL)
    assert pool.members == [] and pool.healthmonitor is None
    lb = s.LoadBalancerCreate.model_validate(LB)
    assert lb.listeners == [] and lb.pools == []
    update = s.ListenerUpdate.model_validate({"name": "x"})
    assert update.model_dump(exclude_unset=True) == {"name": "x"}


# --- through HTTP --------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from nslb.api.app import create_app
    from nslb.config import Settings
    from nslb.db.engine import Database
    from nslb.db.migrate import upgrade

    database = Database(f"sqlite:///{tmp_path / 'nslb.db'}")
    upgrade(database)
    app = create_app(Settings(state_dir=tmp_path, physnet=["physnet1:br1"]), database)
    with TestClient(app, headers={"X-Project-Id": PROJECT}) as test_client:
        yield test_client
    database.dispose()


def fault_400(resp: Any) -> str:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
    assert body["faultcode"] == "Client" and body["debuginfo"] is None
    text: str = body["faultstring"]
    return text


@pytest.mark.parametrize(("url", "root", "attrs", "field"), [
    ("/v2/lbaas/loadbalancers", "loadbalancer", {"vip_subnet_id": "nope"}, "vip_subnet_id"),
    ("/v2/lbaas/loadbalancers", "loadbalancer", {"vip_subnet_id": UUID, "name": "n" * 256},
     "name"),
    ("/v2/lbaas/loadbalancers", "loadbalancer", {"vip_subnet_id": UUID,
                                                 "vip_address": "1.2.3"}, "vip_address"),
    ("/v2/lbaas/listeners", "listener", {**LISTENER, "protocol": "FTP"}, "protocol"),
    ("/v2/lbaas/listeners", "listener", {**LISTENER, "protocol_port": 70000}, "protocol_port"),
    ("/v2/lbaas/listeners", "listener", {**LISTENER, "connection_limit": -5},
     "connection_limit"),
    ("/v2/lbaas/listeners", "listener", {**LISTENER, "timeout_client_data": 2073600001},
     "timeout_client_data"),
    ("/v2/lbaas/listeners", "listener", {**LISTENER, "allowed_cidrs": ["x"]}, "allowed_cidrs"),
    ("/v2/lbaas/pools", "pool", {**POOL, "lb_algorithm": "RANDOM"}, "lb_algorithm"),
    ("/v2/lbaas/pools", "pool", {**POOL, "protocol": "FTP"}, "protocol"),
    ("/v2/lbaas/pools", "pool", {**POOL, "session_persistence": {"type": "X"}},
     "session_persistence.type"),
    (f"/v2/lbaas/pools/{UUID}/members", "member", {**MEMBER, "weight": 257}, "weight"),
    (f"/v2/lbaas/pools/{UUID}/members", "member", {**MEMBER, "address": "x"}, "address"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "max_retries": 11}, "max_retries"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "max_retries_down": 0},
     "max_retries_down"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "expected_codes": "2xx"},
     "expected_codes"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "http_method": "FETCH"},
     "http_method"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "http_version": 2}, "http_version"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "type": "ICMP"}, "type"),
    ("/v2/lbaas/healthmonitors", "healthmonitor", {**HM, "url_path": "x"}, "url_path"),
])
def test_http_400_is_octavia_fault(client: TestClient, url: str, root: str,
                                   attrs: dict[str, Any], field: str) -> None:
    message = fault_400(client.post(url, json={root: attrs}))
    assert message.startswith(f"Invalid input for field/attribute {field}.")


def test_http_unknown_attribute_and_bad_json(client: TestClient) -> None:
    message = fault_400(client.post("/v2/lbaas/listeners",
                                    json={"listener": {**LISTENER, "bogus": True}}))
    assert message == "Invalid input for field/attribute listener. Unknown attribute: bogus"
    fault_400(client.post("/v2/lbaas/listeners", content=b"{not json",
                          headers={"Content-Type": "application/json"}))
    fault_400(client.post("/v2/lbaas/listeners", json={"pool": LISTENER}))
    fault_400(client.post("/v2/lbaas/listeners", json={"listener": [LISTENER]}))
    fault_400(client.put(f"/v2/lbaas/healthmonitors/{UUID}",
                         json={"healthmonitor": {"max_retries": 0}}))
    fault_400(client.put(f"/v2/lbaas/pools/{UUID}/members",
                         json={"members": [{"address": "1.2.3.4"}]}))
    fault_400(client.put("/v2/lbaas/quotas/p", json={"quota": {"member": -2}}))
