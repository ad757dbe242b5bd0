"""Hand-built snapshots covering every rendered option; shared by the golden-file tests.

Ids are fixed strings so the rendered text is stable; the snapshots themselves come from
the one factory, tests/snapshots.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from nslb.model.resources import (
    Amphora,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    Member,
    Network,
    Pool,
)
from nslb.model.snapshot import Attachment, LoadBalancerSnapshot
from nslb.model.tls import PoolTls
from tests.snapshots import attachment, load_balancer

LB_ID = "11111111-1111-4111-8111-111111111111"
LISTENER_ID = "22222222-2222-4222-8222-222222222222"
POOL_ID = "33333333-3333-4333-8333-333333333333"
HM_ID = "44444444-4444-4444-8444-444444444444"
SUBNET_ID = "55555555-5555-4555-8555-555555555555"


def member_id(n: int) -> str:
    return f"6666666{n}-6666-4666-8666-66666666666{n}"


def _vip(address: str) -> Attachment:
    v6 = ":" in address
    return attachment(address, "fd00:250::/64" if v6 else "10.250.0.0/24", Network(id="net"),
                      subnet_id=SUBNET_ID, port_id="77777777-7777-4777-8777-777777777777")


def snapshot(*, vip: str = "10.250.0.10", listeners: tuple[Listener, ...] = (),
             pools: tuple[Pool, ...] = (), members: tuple[Member, ...] = (),
             monitors: tuple[HealthMonitor, ...] = (), lb_up: bool = True) -> LoadBalancerSnapshot:
    return load_balancer(_vip(vip), id=LB_ID, admin_state_up=lb_up, listeners=listeners,
                         pools=pools, members=members, monitors=monitors, generation=7)


def listener(protocol: str = "HTTP", port: int = 80, **kw: object) -> Listener:
    return Listener(id=LISTENER_ID, loadbalancer_id=LB_ID, protocol=protocol,
                    protocol_port=port, default_pool_id=POOL_ID, **kw)  # type: ignore[arg-type]


def pool(protocol: str = "HTTP", **kw: object) -> Pool:
    return Pool(id=POOL_ID, loadbalancer_id=LB_ID, protocol=protocol, **kw)  # type: ignore[arg-type]


def members(n: int = 2, address: str = "10.250.0.{}", **kw: object) -> tuple[Member, ...]:
    return tuple(Member(id=member_id(i), pool_id=POOL_ID, loadbalancer_id=LB_ID,
                        address=address.format(20 + i), protocol_port=8080,
                        **kw) for i in range(1, n + 1))  # type: ignore[arg-type]


def monitor(kind: str, **kw: object) -> HealthMonitor:
    return HealthMonitor(id=HM_ID, pool_id=POOL_ID, loadbalancer_id=LB_ID, type=kind,
                         **kw)  # type: ignore[arg-type]


def http_full() -> LoadBalancerSnapshot:
    li = listener(connection_limit=1000, timeout_client_data=30000, timeout_member_connect=3000,
                  timeout_member_data=40000, timeout_tcp_inspect=500,
                  allowed_cidrs=["10.250.0.0/24", "fd00:250::/64"],
                  insert_headers={"X-Forwarded-For": "true", "X-Forwarded-Port": "true",
                                  "X-Forwarded-Proto": "True"})
    ms = (
        Member(id=member_id(1), pool_id=POOL_ID, address="10.250.0.21", protocol_port=8080),
        Member(id=member_id(2), pool_id=POOL_ID, address="10.250.0.22", protocol_port=8080,
               weight=0),
        Member(id=member_id(3), pool_id=POOL_ID, address="10.250.0.23", protocol_port=8080,
               backup=True, monitor_address="10.250.0.33", monitor_port=9090),
        Member(id=member_id(4), pool_id=POOL_ID, address="10.250.0.24", protocol_port=8080,
               admin_state_up=False, weight=5),
    )
    hm = monitor("HTTP", delay=3, timeout=2, max_retries=2, max_retries_down=4,
                 http_method="HEAD", url_path="/healthz", expected_codes="200-204",
                 http_version=1.1, domain_name="app.example.com")
    sp = {"type": "HTTP_COOKIE"}
    return snapshot(listeners=(li,), pools=(pool(session_persistence=sp),), members=ms,
                    monitors=(hm,))


def tcp_source_ip() -> LoadBalancerSnapshot:
    p = pool("TCP", lb_algorithm="LEAST_CONNECTIONS", session_persistence={"type": "SOURCE_IP"})
    return snapshot(listeners=(listener("TCP", 5432),), pools=(p,), members=members(),
                    monitors=(monitor("TCP", delay=10, timeout=5),))


def https_passthrough() -> LoadBalancerSnapshot:
    p = pool("HTTPS", lb_algorithm="SOURCE_IP")
    return snapshot(listeners=(listener("HTTPS", 443),), pools=(p,), members=members(),
                    monitors=(monitor("TLS-HELLO"),))


def hm_https() -> LoadBalancerSnapshot:
    hm = monitor("HTTPS", url_path="/status", expected_codes="200,202", http_version=1.0)
    return snapshot(listeners=(listener("HTTPS", 443),), pools=(pool("HTTPS"),),
                    members=members(), monitors=(hm,))


def hm_ping() -> LoadBalancerSnapshot:
    return snapshot(listeners=(listener("TCP", 22),), pools=(pool("TCP"),), members=members(),
                    monitors=(monitor("PING", delay=2, timeout=1),))


def app_cookie() -> LoadBalancerSnapshot:
    p = pool(session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"})
    return snapshot(listeners=(listener(),), pools=(p,), members=members(),
                    monitors=(monitor("HTTP"),))


def ipv6_vip() -> LoadBalancerSnapshot:
    p = pool(session_persistence={"type": "SOURCE_IP"})
    li = listener(insert_headers={"X-Forwarded-For": "true"}, allowed_cidrs=["fd00:250::/64"])
    # An IPv6 monitor address is rendered in brackets (bare, HAProxy misreads its last colon).
    return snapshot(vip="fd00:250::10", listeners=(li,), pools=(p,),
                    members=members(address="fd00:250::{}", monitor_address="fd00:250::1:0"),
                    monitors=(monitor("TCP", delay=3, timeout=2),))


def disabled_lb() -> LoadBalancerSnapshot:
    return snapshot(listeners=(listener(),), pools=(pool(),), members=members(), lb_up=False)


def mixed() -> LoadBalancerSnapshot:
    """A disabled listener, a pool no listener uses, a PROXY pool and an admin-down monitor."""
    off = Listener(id="88888888-8888-4888-8888-888888888888", loadbalancer_id=LB_ID,
                   protocol="TCP", protocol_port=8443, admin_state_up=False,
                   default_pool_id="99999999-9999-4999-8999-999999999999")
    proxy = Pool(id="99999999-9999-4999-8999-999999999999", loadbalancer_id=LB_ID,
                 protocol="PROXY")
    spare = Pool(id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", loadbalancer_id=LB_ID,
                 protocol="HTTP", tls_enabled=True)
    down_hm = monitor("HTTP", admin_state_up=False)
    ms = (*members(), Member(id=member_id(5), pool_id=proxy.id, address="10.250.0.25",
                             protocol_port=80))
    return dataclasses.replace(
        snapshot(listeners=(listener(connection_limit=50), off),
                 pools=(pool(), proxy, spare), members=ms, monitors=(down_hm,)),
        tls={spare.id: PoolTls()})


def empty() -> LoadBalancerSnapshot:
    return snapshot()


def prometheus() -> LoadBalancerSnapshot:
    """A PROMETHEUS listener (haproxy's own exporter, allowed_cidrs and a connection limit)
    beside an HTTP listener and its pool."""
    metrics = Listener(id="bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", loadbalancer_id=LB_ID,
                       protocol="PROMETHEUS", protocol_port=9100, connection_limit=10,
                       allowed_cidrs=["10.250.0.0/24"], timeout_client_data=5000)
    return snapshot(listeners=(listener(), metrics), pools=(pool(),), members=members())


MASTER_ID = "88888881-8888-4888-8888-888888888881"
BACKUP_ID = "88888882-8888-4888-8888-888888888882"


def pair() -> tuple[Amphora, Amphora]:
    """The two amphorae of an ACTIVE_STANDBY LB, each with its own port on the VIP subnet."""
    master = Amphora(id=MASTER_ID, loadbalancer_id=LB_ID, role="MASTER", status="ALLOCATED",
                     vrrp_ip="10.250.0.11", vrrp_port_id="99999991-9999-4999-8999-999999999991",
                     vrrp_id=7, vrrp_priority=100, ha_ip="10.250.0.10")
    backup = Amphora(id=BACKUP_ID, loadbalancer_id=LB_ID, role="BACKUP", status="ALLOCATED",
                     vrrp_ip="10.250.0.12", vrrp_port_id="99999992-9999-4999-8999-999999999992",
                     vrrp_id=7, vrrp_priority=90, ha_ip="10.250.0.10")
    return master, backup


def active_standby() -> LoadBalancerSnapshot:
    """SOURCE_IP persistence on a pair: the stick table replicates through `peers`."""
    p = pool(session_persistence={"type": "SOURCE_IP"})
    snap = snapshot(listeners=(listener(),), pools=(p,), members=members(),
                    monitors=(monitor("HTTP", delay=1, timeout=1, max_retries=1),))
    return dataclasses.replace(snap, amphorae=pair())


def _rule(n: int, policy: str, kind: str, compare: str = "EQUAL_TO", value: str = "x",
          key: str | None = None, invert: bool = False, up: bool = True) -> L7Rule:
    return L7Rule(id=f"aaaaaaa{n}-aaaa-4aaa-8aaa-aaaaaaaaaaa{n}", l7policy_id=policy,
                  loadbalancer_id=LB_ID, type=kind, compare_type=compare, value=value, key=key,
                  invert=invert, admin_state_up=up)


def l7() -> LoadBalancerSnapshot:
    """Every action and rule type, in the wrong position order on purpose (HAProxy's order
    wins), values that need HAProxy escaping, a disabled policy and a rule-less one."""
    second = Pool(id="33333334-3333-4333-8333-333333333334", loadbalancer_id=LB_ID,
                  protocol="HTTP")
    pol = [L7Policy(id=f"bbbbbbb{n}-bbbb-4bbb-8bbb-bbbbbbbbbbb{n}", listener_id=LISTENER_ID,
                    loadbalancer_id=LB_ID, position=n, **kw)  # type: ignore[arg-type]
           for n, kw in enumerate([
               {"action": "REDIRECT_TO_POOL", "redirect_pool_id": second.id},
               {"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/a?c='d'#e",
                "redirect_http_code": 301},
               {"action": "REJECT"},
               {"action": "REDIRECT_PREFIX", "redirect_prefix": "https://other.example.com"},
               {"action": "REJECT", "admin_state_up": False},
               {"action": "REJECT"},
               {"action": "FIXED_RESPONSE", "fixed_response_status_code": 503,
                "fixed_response_content_type": "application/json",
                "fixed_response_body": '{"down": "for #maintenance"}'}], start=1)]
    rules = (
        _rule(1, pol[0].id, "PATH", "STARTS_WITH", "/static"),
        _rule(2, pol[1].id, "HOST_NAME", "ENDS_WITH", ".example.com"),
        _rule(3, pol[1].id, "HEADER", "CONTAINS", 'a "quoted" #value\\', key="X-Some-Header",
              invert=True),
        _rule(4, pol[2].id, "PATH", "REGEX", "^/admin(/.*)?$"),
        _rule(5, pol[2].id, "FILE_TYPE", "EQUAL_TO", "jpg"),
        _rule(6, pol[3].id, "COOKIE", "EQUAL_TO", "beta", key="channel"),
        _rule(7, pol[3].id, "SSL_CONN_HAS_CERT", "EQUAL_TO", "True"),
        _rule(8, pol[3].id, "SSL_VERIFY_RESULT", "EQUAL_TO", "0", invert=True),
        _rule(9, pol[3].id, "SSL_DN_FIELD", "REGEX", "^CN=.*$", key="CN"),
        _rule(10 % 10, pol[4].id, "PATH", "EQUAL_TO", "/never"),
        _rule(11 % 10 + 10, pol[5].id, "PATH", "EQUAL_TO", "/disabled-rule", up=False),
        dataclasses.replace(_rule(1, pol[6].id, "SOURCE_IP", "EQUAL_TO",
                                  "192.0.2.0/24, 2001:db8::1", invert=True),
                            id="ccccccc1-cccc-4ccc-8ccc-ccccccccccc1"),
    )
    snap = snapshot(listeners=(listener(),), pools=(pool(), second), members=members())
    return dataclasses.replace(snap, l7policies=tuple(pol), l7rules=rules)


def access_logs() -> LoadBalancerSnapshot:
    """Octavia's log format on an HTTP and a TCP listener, and a listener with
    connection_logging off (no `log global`: the defaults' `no log` holds)."""
    tcp = Listener(id="88888888-8888-4888-8888-888888888888", loadbalancer_id=LB_ID,
                   protocol="TCP", protocol_port=8443,
                   default_pool_id="99999999-9999-4999-8999-999999999999")
    quiet = Listener(id="88888889-8888-4888-8888-888888888889", loadbalancer_id=LB_ID,
                     protocol="HTTP", protocol_port=8080, connection_logging=False,
                     default_pool_id=POOL_ID)
    tcp_pool = Pool(id="99999999-9999-4999-8999-999999999999", loadbalancer_id=LB_ID,
                    protocol="TCP")
    snap = snapshot(listeners=(listener(), tcp, quiet), pools=(pool(), tcp_pool),
                    members=members())
    return dataclasses.replace(snap, lb=dataclasses.replace(
        snap.lb, project_id="f0e1d2c3b4a5968778695a4b3c2d1e0f"))


CASES: dict[str, Callable[[], LoadBalancerSnapshot]] = {
    "http_full": http_full,
    "tcp_source_ip": tcp_source_ip,
    "https_passthrough": https_passthrough,
    "hm_https": hm_https,
    "hm_ping": hm_ping,
    "app_cookie": app_cookie,
    "ipv6_vip": ipv6_vip,
    "disabled_lb": disabled_lb,
    "mixed": mixed,
    "empty": empty,
    "prometheus": prometheus,
    "active_standby": active_standby,
    "l7": l7,
    "access_logs": access_logs,
}
