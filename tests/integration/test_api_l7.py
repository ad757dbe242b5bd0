"""L7 policies through a real `nslb serve`, checked with real requests (curl from a client
namespace): REJECT beats a redirect beats a pool switch whatever their positions, a
redirect keeps (prefix) or replaces (location) the path, a header rule matches a value with
quotes and `#` exactly, and disabling a policy takes it out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api_env import (
    POOLS,
    Served,
    http_lb,
    served,
    url,
)
from tests.integration.conftest import Lab, sh

BACKENDS = ["10.250.20.21", "10.250.20.22"]
CLIENT = "10.250.20.50"
L7P = "/v2/lbaas/l7policies"


@pytest.fixture(scope="module")
def env() -> Iterator[Served]:
    with served("10.250.20.0/24", "10.250.20.100", "10.250.20.199") as module:
        yield module


def curl(ns: str, target: str, *headers: str) -> tuple[str, str, str]:
    """(status, Location, body) of one request."""
    args = ["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "3", "-o", "/dev/stdout",
            "-w", "\n%{http_code} %{redirect_url}"]
    for header in headers:
        args += ["-H", header]
    out = sh(*args, target, check=False)
    body, _, tail = out.rpartition("\n")
    status, _, location = tail.partition(" ")
    return status, location, body


def two_pools(env: Served, hosts: Lab) -> tuple[str, str, str, str]:
    """(LB id, VIP URL, listener id, second pool id): an HTTP LB whose default pool has be1
    and whose second pool has be2, both backends serving."""
    hosts.serve(hosts.host("be1", [f"{BACKENDS[0]}/24"]), "be1")
    hosts.serve(hosts.host("be2", [f"{BACKENDS[1]}/24"]), "be2")
    lb = env.api.create_lb(http_lb(env.subnet, [{"address": BACKENDS[0]}]))
    lb_id = lb["id"]
    second = env.api.change(lb_id, "POST", POOLS, {"pool": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "members": []}})["pool"]["id"]
    env.api.change(lb_id, "POST", f"{POOLS}/{second}/members",
                   {"member": {"address": BACKENDS[1], "protocol_port": 8080}})
    return lb_id, url(lb["vip_address"], ""), env.api.listener_id(lb_id), second


def test_l7_policies_route_reject_and_redirect_real_requests(env: Served, hosts: Lab) -> None:
    api = env.api
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb_id, vip, listener, static = two_pools(env, hosts)

    def add(**policy: object) -> str:
        body = api.change(lb_id, "POST", L7P, {"l7policy": {"listener_id": listener,
                                                            **policy}})
        return str(body["l7policy"]["id"])

    # positions deliberately against HAProxy's order: pool switch first, reject last
    add(action="REDIRECT_TO_POOL", redirect_pool_id=static, position=1, rules=[
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/static"}])
    add(action="REDIRECT_PREFIX", redirect_prefix="https://new.example.com", rules=[
        {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "old.example.com"}])
    add(action="REDIRECT_TO_URL", redirect_url="https://example.com/moved",
        redirect_http_code=301, rules=[
            {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/static/old"}])
    reject = add(action="REJECT", rules=[
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Token",
         "value": 'bad"one"#1'},
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/static/admin"}])

    status, _, body = curl(client, vip + "/static/x")
    assert status == "200" and '"be2"' in body
    status, _, body = curl(client, vip + "/other")
    assert status == "200" and '"be1"' in body
    # REDIRECT_TO_URL beats REDIRECT_TO_POOL, whatever the positions
    status, location, _ = curl(client, vip + "/static/old")
    assert (status, location) == ("301", "https://example.com/moved")
    # a prefix redirect keeps the path and query
    status, location, _ = curl(client, vip + "/a/b?c=1", "Host: old.example.com")
    assert (status, location) == ("302", "https://new.example.com/a/b?c=1")
    # REJECT beats everything; both of its rules must match, the header value exactly
    status, _, _ = curl(client, vip + "/static/admin/x", 'X-Token: bad"one"#1')
    assert status == "403"
    status, _, body = curl(client, vip + "/static/admin/x", 'X-Token: bad"one"#2')
    assert status == "200" and '"be2"' in body
    # a disabled policy is taken out
    api.change(lb_id, "PUT", f"{L7P}/{reject}", {"l7policy": {"admin_state_up": False}})
    status, _, _ = curl(client, vip + "/static/admin/x", 'X-Token: bad"one"#1')
    assert status == "200"


def test_every_rule_type_and_the_extensions_with_real_requests(env: Served, hosts: Lab) -> None:
    """FILE_TYPE, COOKIE, REGEX on a header, an inverted rule, and nslb's two extensions:
    SOURCE_IP (two clients, one inside the network) and FIXED_RESPONSE (status, type, body)."""
    api = env.api
    inside = hosts.host("in", [f"{CLIENT}/24"])
    outside = hosts.host("out", ["10.250.20.60/24"])
    lb_id, vip, listener, second = two_pools(env, hosts)

    def add(**policy: object) -> None:
        api.change(lb_id, "POST", L7P, {"l7policy": {"listener_id": listener, **policy}})

    add(action="FIXED_RESPONSE", fixed_response_status_code=503,
        fixed_response_content_type="text/plain",
        fixed_response_body='down for "maintenance" # back soon', rules=[
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/admin"},
            {"type": "SOURCE_IP", "compare_type": "EQUAL_TO", "invert": True,
             "value": f"{CLIENT}/32, 10.250.21.0/24"}])
    add(action="REDIRECT_TO_POOL", redirect_pool_id=second, rules=[
        {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "png"}])
    add(action="REDIRECT_TO_POOL", redirect_pool_id=second, rules=[
        {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "canary", "value": "yes"}])
    add(action="REJECT", rules=[
        {"type": "HEADER", "compare_type": "REGEX", "key": "User-Agent",
         "value": "^bad-bot/[0-9]+$"}])

    # /admin from outside the allowed networks: the fixed response, as written
    status, _, body = curl(outside, vip + "/admin/x")
    assert (status, body) == ("503", 'down for "maintenance" # back soon')
    status, _, body = curl(inside, vip + "/admin/x")
    assert status == "200" and '"be1"' in body
    assert curl(outside, vip + "/img/a.png")[2].count('"be2"') == 1
    assert '"be1"' in curl(outside, vip + "/img/a.pngx")[2]
    assert '"be2"' in curl(outside, vip + "/", "Cookie: a=1; canary=yes")[2]
    assert '"be1"' in curl(outside, vip + "/", "Cookie: canary=no")[2]
    assert curl(outside, vip + "/", "User-Agent: bad-bot/12")[0] == "403"
    status, _, body = curl(outside, vip + "/", "User-Agent: bad-bot/12x")
    assert status == "200" and '"be1"' in body
