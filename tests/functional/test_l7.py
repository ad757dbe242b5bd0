"""L7 policies and rules (noop driver): Octavia's shapes, positions, action coupling,
validation messages, locks and cascades, and what reaches the rendered config."""

from __future__ import annotations

from typing import Any

import pytest
from octavia_helpers import (
    API,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_tree,
    create_listener,
    create_pool,
    fault,
    statuses,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.health.monitor import HealthMonitor
from nslb.worker.loop import Worker

L7P = f"{API}/l7policies"


def rules_url(policy_id: str) -> str:
    return f"{L7P}/{policy_id}/rules"


def policy(client: TestClient, listener_id: str, status: int = 201, **attrs: Any) -> Any:
    resp = client.post(L7P, json={"l7policy": {"listener_id": listener_id, **attrs}})
    assert resp.status_code == status, resp.text
    return resp.json()["l7policy"] if status == 201 else resp


def rule(client: TestClient, policy_id: str, status: int = 201, **attrs: Any) -> Any:
    resp = client.post(rules_url(policy_id), json={"rule": attrs})
    assert resp.status_code == status, resp.text
    return resp.json()["rule"] if status == 201 else resp


def test_a_policy_has_octavias_shape_and_locks_its_parents(
        client: TestClient, worker: Worker, health: HealthMonitor) -> None:
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="REDIRECT_TO_URL",
                  redirect_url="https://example.com/", name="to-https",
                  rules=[{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}])
    assert set(body) == {"id", "name", "description", "provisioning_status",
                         "operating_status", "admin_state_up", "project_id", "tenant_id",
                         "action", "listener_id", "redirect_pool_id", "redirect_url",
                         "redirect_prefix", "redirect_http_code", "position", "rules",
                         "created_at", "updated_at", "tags",
                         # nslb's FIXED_RESPONSE extension
                         "fixed_response_status_code", "fixed_response_content_type",
                         "fixed_response_body"}
    assert (body["provisioning_status"], body["redirect_http_code"], body["position"]) == \
        ("PENDING_CREATE", 302, 1)
    assert statuses(client, ids)["lb"] == "PENDING_UPDATE"
    assert statuses(client, ids)["listener"] == "PENDING_UPDATE"
    worker.drain()
    health.run_once()
    shown = client.get(f"{L7P}/{body['id']}").json()["l7policy"]
    assert (shown["provisioning_status"], shown["operating_status"]) == ("ACTIVE", "ONLINE")
    assert len(shown["rules"]) == 1
    listener = client.get(f"{LISTENER_URL}/{ids['listener']}").json()["listener"]
    assert listener["l7policies"] == [{"id": body["id"]}]
    assert set(statuses(client, ids).values()) == {"ACTIVE"}


def test_positions_are_contiguous_and_renumbered(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    made = []
    for position in (None, None, 1):
        attrs = {} if position is None else {"position": position}
        made.append(policy(client, ids["listener"], action="REJECT", **attrs)["id"])
        worker.drain()
    order = lambda: [p["id"] for p in sorted(  # noqa: E731
        client.get(f"{L7P}?listener_id={ids['listener']}").json()["l7policies"],
        key=lambda p: p["position"])]
    assert order() == [made[2], made[0], made[1]]
    client.put(f"{L7P}/{made[2]}", json={"l7policy": {"position": 99}})
    worker.drain()
    assert order() == [made[0], made[1], made[2]]
    assert client.delete(f"{L7P}/{made[0]}").status_code == 204
    worker.drain()
    positions = {p["id"]: p["position"] for p in
                 client.get(f"{L7P}?listener_id={ids['listener']}").json()["l7policies"]}
    assert positions == {made[1]: 1, made[2]: 2}


def test_giving_a_redirect_field_switches_the_action(client: TestClient,
                                                     worker: Worker) -> None:
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="REJECT")
    worker.drain()
    updated = client.put(f"{L7P}/{body['id']}", json={"l7policy": {
        "redirect_prefix": "https://new.example.com"}}).json()["l7policy"]
    assert (updated["action"], updated["redirect_http_code"]) == ("REDIRECT_PREFIX", 302)
    worker.drain()
    updated = client.put(f"{L7P}/{body['id']}", json={"l7policy": {
        "redirect_pool_id": ids["pool"]}}).json()["l7policy"]
    assert (updated["action"], updated["redirect_prefix"], updated["redirect_http_code"]) == \
        ("REDIRECT_TO_POOL", None, None)


@pytest.mark.parametrize(("attrs", "message"), [
    ({"action": "REDIRECT_TO_URL"},
     "Invalid L7 Policy arguments: redirect_url must not be None"),
    ({"action": "REDIRECT_TO_POOL"},
     "Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None"),
    ({"action": "REDIRECT_PREFIX"},
     "Invalid L7 Policy arguments: redirect_prefix must not be None"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://x.example"},
     "Value must be a valid URL string"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://x.example/a b"},
     "Value must be a valid URL string"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://x.example", "redirect_http_code": 304},
     "Value should be one of"),
])
def test_policy_validation(client: TestClient, worker: Worker, attrs: dict[str, Any],
                           message: str) -> None:
    ids = active_tree(client, worker)
    assert message in fault(policy(client, ids["listener"], 400, **attrs), 400)
    assert set(statuses(client, ids).values()) == {"ACTIVE"}


@pytest.mark.parametrize(("attrs", "message"), [
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x"},
     "Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key"),
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "value": "x", "key": "a b"},
     "Error parsing L7Rule: Invalid characters in key"),
    ({"type": "COOKIE", "compare_type": "EQUAL_TO", "value": "a;b", "key": "c"},
     "Error parsing L7Rule: Invalid characters in cookie value"),
    ({"type": "PATH", "compare_type": "REGEX", "value": "(unclosed"},
     "Error parsing L7Rule: Unable to parse regular expression"),
    ({"type": "FILE_TYPE", "compare_type": "CONTAINS", "value": "jpg"},
     "Error parsing L7Rule: Invalid L7 Rule: invalid comparison type for rule type"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "yes"},
     "Error parsing L7Rule: L7rule value yes is not a boolean True string."),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"},
     "Error parsing L7Rule: L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "REGEX", "value": "1"},
     "Error parsing L7Rule: L7rule type SSL_VERIFY_RESULT only supports the EQUAL_TO"),
    ({"type": "SSL_DN_FIELD", "compare_type": "EQUAL_TO", "value": "x", "key": "1CN"},
     "Error parsing L7Rule: Invalid L7rule distinguished name field."),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a\nhttp-request deny"},
     "Invalid input for field/attribute value"),
    ({"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a\tb"},
     "Invalid input for field/attribute value"),
    # Python's re takes these, HAProxy's PCRE2 does not: a reload would fail
    ({"type": "PATH", "compare_type": "REGEX", "value": "^/\\u0041"},
     "Unable to parse regular expression: PCRE2 does not support"),
    ({"type": "PATH", "compare_type": "REGEX", "value": "(?a)/x"},
     "Unable to parse regular expression: unrecognized character after (?"),
    # a quote in a sample-fetch argument is a quote to HAProxy, escaped or not
    ({"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-It's", "value": "1"},
     "Error parsing L7Rule: Invalid characters in key"),
])
def test_rule_validation(client: TestClient, worker: Worker, attrs: dict[str, Any],
                         message: str) -> None:
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="REJECT")
    worker.drain()
    assert message in fault(rule(client, body["id"], 400, **attrs), 400)


def test_rules_lock_the_policy_and_are_capped_at_50(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="REJECT",
                  rules=[{"type": "PATH", "compare_type": "EQUAL_TO", "value": f"/r{i}"}
                         for i in range(49)])
    worker.drain()
    made = rule(client, body["id"], type="PATH", compare_type="EQUAL_TO", value="/r49")
    assert client.get(f"{L7P}/{body['id']}").json()["l7policy"]["provisioning_status"] == \
        "PENDING_UPDATE"
    assert fault(client.put(f"{rules_url(body['id'])}/{made['id']}",
                            json={"rule": {"value": "/y"}}), 409) == \
        f"L7 Policy {body['id']} is immutable and cannot be updated."
    worker.drain()
    assert fault(rule(client, body["id"], 409, type="PATH", compare_type="EQUAL_TO",
                      value="/r50"), 409) == f"Too many rules on L7 policy {body['id']}"
    shown = client.get(f"{rules_url(body['id'])}/{made['id']}").json()["rule"]
    assert set(shown) == {"id", "type", "compare_type", "key", "value", "invert",
                          "provisioning_status", "operating_status", "created_at",
                          "updated_at", "project_id", "tenant_id", "admin_state_up", "tags"}


def test_a_pool_in_use_by_a_policy_cannot_go_and_a_listener_takes_its_policies(
        client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    other = create_pool(client, loadbalancer_id=ids["lb"])
    worker.drain()
    body = policy(client, ids["listener"], action="REDIRECT_TO_POOL",
                  redirect_pool_id=other["id"],
                  rules=[{"type": "HOST_NAME", "compare_type": "EQUAL_TO",
                          "value": "api.example.com"}])
    worker.drain()
    assert fault(client.delete(f"{POOL_URL}/{other['id']}"), 409) == \
        f"Pool {other['id']} is in use by L7 policy {body['id']}"
    assert client.delete(f"{LISTENER_URL}/{ids['listener']}").status_code == 204
    worker.drain()
    assert client.get(f"{L7P}/{body['id']}").status_code == 404
    assert client.delete(f"{POOL_URL}/{other['id']}").status_code == 204


def test_tcp_listeners_have_no_l7(client: TestClient, worker: Worker) -> None:
    ids = active_tree(client, worker)
    tcp = create_listener(client, ids["lb"], protocol="TCP", protocol_port=81)
    worker.drain()
    assert "TCP protocol listeners do not support L7 policies" in fault(
        policy(client, tcp["id"], 501, action="REJECT"), 501)


def test_the_rendered_config_holds_the_rules_escaped(client: TestClient, worker: Worker,
                                                     driver: NoopDriver) -> None:
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="REJECT", rules=[
        {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Token",
         "value": 'a"b#c\\d'}])
    worker.drain()
    config = driver.applied[ids["lb"]].files["haproxy.cfg"]
    rule_id = client.get(f"{L7P}/{body['id']}").json()["l7policy"]["rules"][0]["id"]
    assert f"    acl {rule_id} req.hdr(X-Token) -m str -- a\\\"b\\#c\\\\d\n" in config
    assert f"    http-request deny if {rule_id}\n" in config
    assert client.delete(f"{LB_URL}/{ids['lb']}?cascade=true").status_code == 204
    worker.drain()
    assert client.get(f"{L7P}/{body['id']}").status_code == 404


def test_a_tree_create_builds_policies_in_position_order(client: TestClient, worker: Worker,
                                                         driver: NoopDriver) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet["id"], "name": "tree",
        "pools": [{"name": "static", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": "10.0.0.30", "protocol_port": 80}]}],
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "l7policies": [
            {"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "static"},
             "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/s"}]},
            {"action": "REJECT", "position": 1, "name": "deny",
             "rules": [{"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Bad",
                        "value": "1"}]},
            {"action": "REDIRECT_TO_POOL", "name": "inline",
             "redirect_pool": {"name": "images", "protocol": "HTTP",
                               "lb_algorithm": "ROUND_ROBIN"},
             "rules": [{"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "png"}]},
        ]}]}})
    assert resp.status_code == 201, resp.text
    body = resp.json()["loadbalancer"]
    policies = body["listeners"][0]["l7policies"]
    assert [(p["name"], p["position"]) for p in policies] == \
        [("deny", 1), ("", 2), ("inline", 3)]
    assert policies[0]["rules"][0]["key"] == "X-Bad"
    assert policies[0]["listener_id"] == body["listeners"][0]["id"]
    pools = {p["name"]: p["id"] for p in body["pools"]}
    assert set(pools) == {"static", "images"}
    assert (policies[1]["redirect_pool_id"], policies[2]["redirect_pool_id"]) == \
        (pools["static"], pools["images"])
    worker.drain()
    assert client.get(f"{LB_URL}/{body['id']}").json()["loadbalancer"][
        "provisioning_status"] == "ACTIVE"
    listed = client.get(f"{L7P}?listener_id={body['listeners'][0]['id']}").json()["l7policies"]
    assert {p["provisioning_status"] for p in listed} == {"ACTIVE"}
    config = driver.applied[body["id"]].files["haproxy.cfg"]
    assert f"use_backend {pools['images']} if" in config and "http-request deny if" in config


@pytest.mark.parametrize(("policy_body", "code", "text"), [
    ({"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "nope"}}, 400,
     "redirect_pool nope is not one of the pools"),
    ({"action": "REDIRECT_TO_POOL",
      "redirect_pool_id": "8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"}, 400,
     "redirect_pool_id cannot be used in a single-call create"),
    ({"action": "REDIRECT_TO_URL"}, 400, "redirect_url must not be None"),
    ({"action": "REJECT", "rules": [{"type": "PATH", "compare_type": "EQUAL_TO",
                                     "value": "no spaces"}]}, 400, "Error parsing L7Rule"),
])
def test_a_bad_policy_in_a_tree_create_leaves_nothing(client: TestClient, policy_body: Any,
                                                      code: int, text: str) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet["id"],
        "listeners": [{"protocol": "HTTP", "protocol_port": 80,
                       "l7policies": [policy_body]}]}})
    assert text in fault(resp, code)
    assert client.get(LB_URL).json()["loadbalancers"] == []
    assert client.get(L7P).json()["l7policies"] == []


def test_a_tree_create_refuses_policies_on_a_tcp_listener(client: TestClient) -> None:
    subnet = vip_subnet(client)
    resp = client.post(LB_URL, json={"loadbalancer": {
        "vip_subnet_id": subnet["id"],
        "listeners": [{"protocol": "TCP", "protocol_port": 80,
                       "l7policies": [{"action": "REJECT"}]}]}})
    assert "TCP protocol listeners do not support L7 policies" in fault(resp, 501)
    assert client.get(LB_URL).json()["loadbalancers"] == []


def test_a_listener_create_takes_policies_inline(client: TestClient, worker: Worker,
                                                 driver: NoopDriver) -> None:
    ids = active_tree(client, worker)
    resp = client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": ids["lb"], "protocol": "HTTP", "protocol_port": 8080,
        "l7policies": [
            {"action": "REDIRECT_PREFIX", "redirect_prefix": "https://example.com",
             "rules": [{"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "a.b"}]},
            {"action": "REDIRECT_TO_POOL", "position": 1,
             "redirect_pool": {"name": "api", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                               "members": [{"address": "10.0.0.40", "protocol_port": 80}]},
             "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}]}]}})
    assert resp.status_code == 201, resp.text
    listener = resp.json()["listener"]
    assert len(listener["l7policies"]) == 2
    worker.drain()
    listed = client.get(f"{L7P}?listener_id={listener['id']}").json()["l7policies"]
    by_position = {p["position"]: p for p in listed}
    assert by_position[1]["action"] == "REDIRECT_TO_POOL"
    pool = client.get(f"{POOL_URL}/{by_position[1]['redirect_pool_id']}").json()["pool"]
    assert (pool["name"], len(pool["members"])) == ("api", 1)
    config = driver.applied[ids["lb"]].files["haproxy.cfg"]
    assert f"use_backend {pool['id']} if" in config and "server " in config
    assert {p["provisioning_status"] for p in listed} == {"ACTIVE"}


# --- nslb's extensions: FIXED_RESPONSE and SOURCE_IP ------------------------------------


def test_fixed_response_and_source_ip_are_rendered_in_haproxys_order(
        client: TestClient, worker: Worker, driver: NoopDriver) -> None:
    ids = active_tree(client, worker)
    maintenance = policy(client, ids["listener"], action="FIXED_RESPONSE",
                         fixed_response_status_code=503,
                         fixed_response_content_type="application/json",
                         fixed_response_body='{"error": "maintenance #1"}', position=2,
                         rules=[{"type": "PATH", "compare_type": "STARTS_WITH",
                                 "value": "/api"}])
    assert (maintenance["action"], maintenance["fixed_response_status_code"],
            maintenance["redirect_http_code"]) == ("FIXED_RESPONSE", 503, None)
    worker.drain()
    office = policy(client, ids["listener"], action="REJECT", position=1, rules=[
        {"type": "SOURCE_IP", "compare_type": "EQUAL_TO", "invert": True,
         "value": "192.0.2.0/24, 2001:db8::7 10.1.2.3"}])
    worker.drain()
    config = driver.applied[ids["lb"]].files["haproxy.cfg"]
    rule_id = client.get(f"{L7P}/{office['id']}").json()["l7policy"]["rules"][0]["id"]
    fixed_rule = client.get(f"{L7P}/{maintenance['id']}").json()["l7policy"]["rules"][0]["id"]
    deny = f"    acl {rule_id} src -- 192.0.2.0/24 2001:db8::7/128 10.1.2.3/32\n" \
           f"    http-request deny if !{rule_id}\n"
    fixed = (f"    http-request return status 503 content-type application/json string "
             f"{{\\\"error\\\":\\ \\\"maintenance\\ \\#1\\\"}} if {fixed_rule}\n")
    assert deny in config and fixed in config
    assert config.index(deny) < config.index(fixed)  # positions order the http-request rules
    # a redirect field switches the action, the fixed fields are cleared
    resp = client.put(f"{L7P}/{maintenance['id']}", json={"l7policy": {
        "redirect_url": "https://example.com/"}})
    assert resp.status_code == 200, resp.text
    switched = resp.json()["l7policy"]
    assert (switched["action"], switched["fixed_response_status_code"],
            switched["fixed_response_body"]) == ("REDIRECT_TO_URL", None, None)
    providers = client.get(f"{API}/providers").json()["providers"]
    assert "FIXED_RESPONSE" in next(p["description"] for p in providers
                                    if p["name"] == "amphora")


@pytest.mark.parametrize(("attrs", "message"), [
    ({"action": "FIXED_RESPONSE"}, "fixed_response_status_code must not be None"),
    ({"action": "FIXED_RESPONSE", "fixed_response_status_code": 302},
     "must be a 2xx, 4xx or 5xx HTTP status code"),
    ({"action": "FIXED_RESPONSE", "fixed_response_status_code": 200,
      "fixed_response_content_type": "text/x-shellscript"}, "fixed_response_content_type"),
    ({"action": "FIXED_RESPONSE", "fixed_response_status_code": 200,
      "fixed_response_body": "a\nb"}, "fixed_response_body"),
    ({"action": "FIXED_RESPONSE", "fixed_response_status_code": 200,
      "fixed_response_body": "x" * 1025}, "fixed_response_body"),
    ({"action": "FIXED_RESPONSE", "fixed_response_status_code": 204,
      "fixed_response_body": "gone"}, "fixed_response_body must be empty for a 204 response"),
])
def test_fixed_response_validation(client: TestClient, worker: Worker, attrs: dict[str, Any],
                                   message: str) -> None:
    ids = active_tree(client, worker)
    assert message in fault(policy(client, ids["listener"], 400, **attrs), 400)


def test_a_204_fixed_response_keeps_no_body_through_an_update(
        client: TestClient, worker: Worker) -> None:
    """HAProxy refuses a body on a 204: a PUT that would pair them is a 400 and the stored
    policy stays as it was (a 204 with no body is fine)."""
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="FIXED_RESPONSE",
                  fixed_response_status_code=200, fixed_response_body="hello")
    worker.drain()
    resp = client.put(f"{API}/l7policies/{body['id']}",
                      json={"l7policy": {"fixed_response_status_code": 204}})
    assert "must be empty for a 204 response" in fault(resp, 400)
    kept = client.get(f"{API}/l7policies/{body['id']}").json()["l7policy"]
    assert (kept["fixed_response_status_code"], kept["fixed_response_body"]) == (200, "hello")
    resp = client.put(f"{API}/l7policies/{body['id']}", json={"l7policy": {
        "fixed_response_status_code": 204, "fixed_response_body": None}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["l7policy"]["fixed_response_body"] is None


@pytest.mark.parametrize(("attrs", "message"), [
    ({"compare_type": "STARTS_WITH", "value": "10.0.0.0/8"},
     "SOURCE_IP only supports the EQUAL_TO compare type"),
    ({"compare_type": "EQUAL_TO", "value": "10.0.0.0/8", "key": "x"},
     'does not use the "key" field'),
    ({"compare_type": "EQUAL_TO", "value": "10.0.0.0/33"}, "needs IP addresses or CIDRs"),
    ({"compare_type": "EQUAL_TO", "value": "fe80::1%eth0"}, "needs IP addresses or CIDRs"),
    ({"compare_type": "EQUAL_TO", "value": ", ,"}, "L7 rule type requires a value"),
])
def test_source_ip_rule_validation(client: TestClient, worker: Worker, attrs: dict[str, Any],
                                   message: str) -> None:
    ids = active_tree(client, worker)
    body = policy(client, ids["listener"], action="REJECT")
    worker.drain()
    assert message in fault(rule(client, body["id"], 400, type="SOURCE_IP", **attrs), 400)
