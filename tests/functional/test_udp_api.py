"""UDP listeners, pools, members and health monitors through the API: every rule Octavia's
API applies to them, with Octavia's status codes and messages (octavia/api/v2/controllers:
listener.py, pool.py, health_monitor.py; the amphora driver's member check), and what is
accepted, under the noop driver."""

from __future__ import annotations

from typing import Any

import pytest
from octavia_helpers import (
    HM_URL,
    LB_URL,
    LISTENER_URL,
    POOL_URL,
    active_lb,
    create_hm,
    create_listener,
    create_member,
    create_pool,
    fault,
    hm,
    lb,
    listener,
    members_url,
    pool,
    prov,
    vip_subnet,
)
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.health.monitor import HealthMonitor
from nslb.worker.loop import Worker

SOURCE_IP = {"type": "SOURCE_IP", "persistence_timeout": 120,
             "persistence_granularity": "255.255.255.0"}


def udp_tree(client: TestClient, worker: Worker, **pool_attrs: Any) -> dict[str, str]:
    """An ACTIVE LB with a UDP :53 listener and its UDP pool of one member."""
    body = active_lb(client, worker)
    li = create_listener(client, body["id"], protocol="UDP", protocol_port=53)
    worker.drain()
    p = create_pool(client, listener_id=li["id"], protocol="UDP", **pool_attrs)
    worker.drain()
    m = create_member(client, p["id"], address="10.0.0.50", protocol_port=5353)
    worker.drain()
    return {"lb": body["id"], "listener": li["id"], "pool": p["id"], "member": m["id"]}


def new_pool(client: TestClient, lb_id: str, status: int, **attrs: Any) -> Any:
    return client.post(POOL_URL, json={"pool": {
        "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN", "loadbalancer_id": lb_id, **attrs}})


# --- a whole UDP tree is accepted and served -------------------------------------------------


def test_udp_tree_goes_active_with_its_options(client: TestClient, worker: Worker,
                                               driver: NoopDriver,
                                               health: HealthMonitor) -> None:
    ids = udp_tree(client, worker, lb_algorithm="SOURCE_IP", session_persistence=SOURCE_IP)
    created = create_hm(client, ids["pool"], type="UDP-CONNECT", delay=3, timeout=2,
                        max_retries=2, max_retries_down=3)
    assert created["http_method"] is None and created["url_path"] is None
    worker.drain()
    resp = client.put(f"{LISTENER_URL}/{ids['listener']}",
                      json={"listener": {"connection_limit": 1000}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert prov(lb(client, ids["lb"])) == "ACTIVE"
    assert prov(hm(client, created["id"])) == "ACTIVE"
    got = pool(client, ids["pool"])
    assert (got["protocol"], got["lb_algorithm"]) == ("UDP", "SOURCE_IP")
    assert got["session_persistence"] == {**SOURCE_IP, "cookie_name": None}
    assert listener(client, ids["listener"])["connection_limit"] == 1000
    bundle = driver.applied[ids["lb"]]
    assert {"udp.nft", "udp.json"} <= set(bundle.files)
    assert ids["listener"] in bundle.manifest.listeners
    health.run_once()
    tree = client.get(f"{LB_URL}/{ids['lb']}/status").json()["statuses"]["loadbalancer"]
    (li,) = tree["listeners"]
    assert (li["id"], li["operating_status"]) == (ids["listener"], "ONLINE")
    assert [m["operating_status"] for m in li["pools"][0]["members"]] == ["ONLINE"]


def test_udp_and_tcp_listeners_share_a_port_number(client: TestClient,
                                                   worker: Worker) -> None:
    body = active_lb(client, worker)
    create_listener(client, body["id"], protocol="UDP", protocol_port=53)
    worker.drain()
    create_listener(client, body["id"], protocol="TCP", protocol_port=53)
    worker.drain()
    assert fault(client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": body["id"], "protocol": "UDP", "protocol_port": 53}}), 409) == (
        "Another Listener on this Load Balancer is already using protocol UDP and "
        "protocol_port 53")
    assert fault(client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": body["id"], "protocol": "HTTP", "protocol_port": 53}}), 409) == (
        "Another Listener on this Load Balancer is already using protocol TCP and "
        "protocol_port 53")
    assert prov(lb(client, body["id"])) == "ACTIVE"


def tree_body(subnet_id: str, listeners: list[dict[str, Any]]) -> dict[str, Any]:
    return {"loadbalancer": {"vip_subnet_id": subnet_id, "listeners": listeners}}


def test_single_call_create_with_udp_and_tcp_on_one_port(client: TestClient,
                                                         worker: Worker) -> None:
    subnet = vip_subnet(client)
    udp = {"protocol": "UDP", "protocol_port": 53, "default_pool": {
        "name": "dns", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
        "session_persistence": {"type": "SOURCE_IP"},
        "healthmonitor": {"type": "UDP-CONNECT", "delay": 5, "timeout": 2, "max_retries": 2},
        "members": [{"address": "10.0.0.21", "protocol_port": 53, "weight": 3},
                    {"address": "10.0.0.22", "protocol_port": 53}]}}
    tcp = {"protocol": "TCP", "protocol_port": 53}
    resp = client.post(LB_URL, json=tree_body(subnet["id"], [udp, tcp]))
    assert resp.status_code == 201, resp.text
    worker.drain()
    assert prov(lb(client, resp.json()["loadbalancer"]["id"])) == "ACTIVE"
    twice = tree_body(subnet["id"], [{"protocol": "UDP", "protocol_port": 53},
                                     {"protocol": "UDP", "protocol_port": 53}])
    assert fault(client.post(LB_URL, json=twice), 409) == (
        "Another Listener on this Load Balancer is already using protocol UDP and "
        "protocol_port 53")


# --- listeners ---------------------------------------------------------------------------


LISTENER_CREATE: list[tuple[dict[str, Any], int, str]] = [
    ({"insert_headers": {"X-Forwarded-For": "true"}}, 400,
     "insert-headers is not a valid option for a UDP protocol listener."),
    ({"default_tls_container_ref": "https://barbican/secret"}, 400,
     "Validation failure: UDP protocol listener does not support TLS."),
    ({"sni_container_refs": ["https://barbican/secret"]}, 400,
     "Validation failure: UDP protocol listener does not support TLS."),
    ({"client_ca_tls_container_ref": "https://barbican/ca"}, 400,
     "Validation failure: UDP protocol listener does not support TLS."),
    ({"protocol": "SCTP", "insert_headers": {"X-Forwarded-For": "true"}}, 400,
     "insert-headers is not a valid option for a SCTP protocol listener."),
    ({"protocol": "SCTP"}, 501, "Provider 'amphora' does not support a requested option: "
     "listener protocol SCTP (the kernel of this host has no SCTP support)"),
]


@pytest.mark.parametrize(("attrs", "status", "message"), LISTENER_CREATE)
def test_listener_create_rules(client: TestClient, worker: Worker, attrs: dict[str, Any],
                               status: int, message: str) -> None:
    body = active_lb(client, worker)
    resp = client.post(LISTENER_URL, json={"listener": {
        "loadbalancer_id": body["id"], "protocol": "UDP", "protocol_port": 53, **attrs}})
    assert fault(resp, status) == message
    assert client.get(LISTENER_URL).json()["listeners"] == []
    assert prov(lb(client, body["id"])) == "ACTIVE"


@pytest.mark.parametrize("attrs", [
    {"insert_headers": {"X-Forwarded-For": "true"}},
    {"default_tls_container_ref": "https://barbican/secret"},
    {"sni_container_refs": ["https://barbican/secret"]},
])
def test_listener_update_refuses_tls_and_headers(client: TestClient, worker: Worker,
                                                 attrs: dict[str, Any]) -> None:
    ids = udp_tree(client, worker)
    resp = client.put(f"{LISTENER_URL}/{ids['listener']}", json={"listener": attrs})
    assert fault(resp, 400) == ("Validation failure: UDP protocol listener does not support "
                                "TLS or header insertion.")
    assert prov(listener(client, ids["listener"])) == "ACTIVE"


def test_l7_policies_on_a_udp_listener_are_refused(client: TestClient,
                                                   worker: Worker) -> None:
    ids = udp_tree(client, worker)
    resp = client.post("/v2/lbaas/l7policies", json={"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT"}})
    assert fault(resp, 501) == ("Provider 'amphora' does not support a requested option: "
                                "UDP protocol listeners do not support L7 policies")


def test_udp_listener_takes_only_a_udp_pool(client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    li = create_listener(client, body["id"], protocol="UDP", protocol_port=53)
    worker.drain()
    resp = client.post(POOL_URL, json={"pool": {"listener_id": li["id"], "protocol": "TCP",
                                                "lb_algorithm": "ROUND_ROBIN"}})
    assert fault(resp, 400) == ("Validation failure: The pool protocol 'TCP' is invalid "
                                "while the listener protocol is 'UDP'.")
    tcp = create_listener(client, body["id"], protocol="TCP", protocol_port=53)
    worker.drain()
    resp = client.post(POOL_URL, json={"pool": {"listener_id": tcp["id"], "protocol": "UDP",
                                                "lb_algorithm": "ROUND_ROBIN"}})
    assert fault(resp, 400) == ("Validation failure: The pool protocol 'UDP' is invalid "
                                "while the listener protocol is 'TCP'.")


# --- pools -------------------------------------------------------------------------------


POOL_CREATE: list[tuple[dict[str, Any], int, str]] = [
    ({"session_persistence": {"type": "SOURCE_IP", "cookie_name": "c"}}, 400,
     "Validation failure: session_persistence SOURCE_IP type for UDP and SCTP protocols only "
     "accepts: type, persistence_timeout, persistence_granularity."),
    ({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "c"}}, 400,
     "Validation failure: Cookie names are not supported for UDP/SCTP pools."),
    ({"session_persistence": {"type": "HTTP_COOKIE"}}, 400,
     "Validation failure: Session persistence of type HTTP_COOKIE is not supported for "
     "UDP/SCTP protocol pools."),
    ({"session_persistence": {"type": "APP_COOKIE"}}, 400,
     "Validation failure: Session persistence of type APP_COOKIE is not supported for "
     "UDP/SCTP protocol pools."),
    ({"session_persistence": {"type": "SOURCE_IP", "persistence_granularity": "ffff::"}},
     400, "Validation failure: persistence_granularity ffff:: IP version incompatible with "
     "VIP 10.0.0."),
    ({"session_persistence": {"type": "SOURCE_IP", "persistence_granularity": "10.1.2.3"}},
     400, "Validation failure: persistence_granularity 10.1.2.3 is not a netmask."),
    ({"lb_algorithm": "LEAST_CONNECTIONS"}, 501,
     "Provider 'amphora' does not support a requested option: lb_algorithm "
     "LEAST_CONNECTIONS for UDP pools"),
    ({"lb_algorithm": "SOURCE_IP_PORT"}, 501,
     "Provider 'amphora' does not support a requested option: lb_algorithm SOURCE_IP_PORT"),
    ({"protocol": "SCTP", "session_persistence": {"type": "HTTP_COOKIE"}}, 400,
     "Validation failure: Session persistence of type HTTP_COOKIE is not supported for "
     "UDP/SCTP protocol pools."),
    ({"protocol": "SCTP"}, 501, "Provider 'amphora' does not support a requested option: "
     "pool protocol SCTP (the kernel of this host has no SCTP support)"),
]


@pytest.mark.parametrize(("attrs", "status", "message"), POOL_CREATE)
def test_pool_create_rules(client: TestClient, worker: Worker, attrs: dict[str, Any],
                           status: int, message: str) -> None:
    body = active_lb(client, worker)
    assert fault(new_pool(client, body["id"], status, **attrs), status).startswith(message)
    assert client.get(POOL_URL).json()["pools"] == []


def test_udp_fields_on_other_pools_are_refused_as_octavia_words_it(
        client: TestClient, worker: Worker) -> None:
    body = active_lb(client, worker)
    sp = {"type": "SOURCE_IP", "persistence_timeout": 60}
    resp = client.post(POOL_URL, json={"pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                                                "loadbalancer_id": body["id"],
                                                "session_persistence": sp}})
    assert fault(resp, 400) == ("Validation failure: persistence_timeout and "
                                "persistence_granularity is only for UDP and SCTP protocol "
                                "pools.")
    tcp = create_pool(client, protocol="TCP", loadbalancer_id=body["id"])
    worker.drain()
    resp = client.put(f"{POOL_URL}/{tcp['id']}", json={"pool": {"session_persistence": {
        "type": "SOURCE_IP", "persistence_granularity": "255.255.255.0"}}})
    assert fault(resp, 400) == ("Validation failure: persistence_timeout and "
                                "persistence_granularity is only for UDP protocol pools.")


def test_pool_update_rules(client: TestClient, worker: Worker) -> None:
    ids = udp_tree(client, worker)
    url = f"{POOL_URL}/{ids['pool']}"
    resp = client.put(url, json={"pool": {"lb_algorithm": "LEAST_CONNECTIONS"}})
    assert fault(resp, 501).startswith("Provider 'amphora' does not support a requested "
                                       "option: lb_algorithm LEAST_CONNECTIONS for UDP pools")
    resp = client.put(url, json={"pool": {"session_persistence": {"type": "APP_COOKIE",
                                                                  "cookie_name": "c"}}})
    assert fault(resp, 400) == ("Validation failure: Cookie names are not supported for "
                                "UDP/SCTP pools.")
    resp = client.put(url, json={"pool": {"session_persistence": SOURCE_IP,
                                          "lb_algorithm": "SOURCE_IP"}})
    assert resp.status_code == 200, resp.text
    worker.drain()
    assert pool(client, ids["pool"])["session_persistence"]["persistence_timeout"] == 120


# --- members -----------------------------------------------------------------------------


MIXED = ("Provider 'amphora' does not support a requested option: This provider doesn't "
         "support mixing IPv4 and IPv6 addresses for its VIP and members in UDP load "
         "balancers.")


def test_member_of_the_other_family_is_refused(client: TestClient, worker: Worker) -> None:
    ids = udp_tree(client, worker)
    assert fault(client.post(members_url(ids["pool"]), json={"member": {
        "address": "fd00::5", "protocol_port": 53}}), 501) == MIXED
    resp = client.put(members_url(ids["pool"]), json={"members": [
        {"address": "10.0.0.50", "protocol_port": 5353},
        {"address": "fd00::5", "protocol_port": 53}]})
    assert fault(resp, 501) == MIXED
    assert len(client.get(members_url(ids["pool"])).json()["members"]) == 1


def test_members_take_weights_backup_and_monitor_addresses(client: TestClient,
                                                           worker: Worker) -> None:
    ids = udp_tree(client, worker)
    m = create_member(client, ids["pool"], address="10.0.0.51", protocol_port=53, weight=5,
                      backup=True, monitor_address="10.0.0.52", monitor_port=8053)
    worker.drain()
    got = client.get(f"{members_url(ids['pool'])}/{m['id']}").json()["member"]
    assert (got["weight"], got["backup"], got["monitor_port"], prov(got)) == \
        (5, True, 8053, "ACTIVE")


# --- health monitors ---------------------------------------------------------------------


ONLY = ("Validation failure: The associated pool protocol is UDP, so only a "
        "UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported.")
HM_CREATE: list[tuple[dict[str, Any], int, str]] = [
    ({"type": "PING"}, 400, ONLY),
    ({"type": "HTTPS"}, 400, ONLY),
    ({"type": "TLS-HELLO"}, 400, ONLY),
    ({"type": "UDP-CONNECT", "delay": 2}, 400,
     "Validation failure: The request delay value 2 should be larger than 3 for UDP-CONNECT "
     "health monitor type."),
    ({"type": "UDP-CONNECT", "url_path": "/x"}, 400, "url_path"),
    ({"type": "SCTP"}, 501, "Provider 'amphora' does not support a requested option: "
     "health monitor type SCTP (the kernel of this host has no SCTP support)"),
]


@pytest.mark.parametrize(("attrs", "status", "message"), HM_CREATE)
def test_health_monitor_rules(client: TestClient, worker: Worker, attrs: dict[str, Any],
                              status: int, message: str) -> None:
    ids = udp_tree(client, worker)
    resp = client.post(HM_URL, json={"healthmonitor": {
        "pool_id": ids["pool"], "delay": 5, "timeout": 3, "max_retries": 2, **attrs}})
    assert message in fault(resp, status)
    assert client.get(HM_URL).json()["healthmonitors"] == []
    assert prov(pool(client, ids["pool"])) == "ACTIVE"


@pytest.mark.parametrize(("kind", "delay"), [("UDP-CONNECT", 3), ("TCP", 1), ("HTTP", 1)])
def test_supported_monitors_on_udp_pools(client: TestClient, worker: Worker, kind: str,
                                         delay: int) -> None:
    ids = udp_tree(client, worker)
    created = create_hm(client, ids["pool"], type=kind, delay=delay, timeout=1)
    assert (created["url_path"] == "/") == (kind == "HTTP")
    worker.drain()
    assert prov(hm(client, created["id"])) == "ACTIVE"


def test_udp_connect_delay_is_checked_on_update_and_in_a_tree(client: TestClient,
                                                              worker: Worker) -> None:
    ids = udp_tree(client, worker)
    created = create_hm(client, ids["pool"], type="UDP-CONNECT", delay=5, timeout=2)
    worker.drain()
    resp = client.put(f"{HM_URL}/{created['id']}", json={"healthmonitor": {"delay": 1}})
    assert fault(resp, 400) == ("Validation failure: The request delay value 1 should be "
                                "larger than 3 for UDP-CONNECT health monitor type.")
    assert hm(client, created["id"])["delay"] == 5
    subnet = vip_subnet(client, "10.1.0.0/24")
    body = tree_body(subnet["id"], [{"protocol": "UDP", "protocol_port": 53, "default_pool": {
        "name": "p", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
        "healthmonitor": {"type": "PING", "delay": 5, "timeout": 2, "max_retries": 2}}}])
    assert fault(client.post(LB_URL, json=body), 400) == ONLY
