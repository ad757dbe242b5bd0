"""The write-side rules of nslb/lbaas without any HTTP: locks, quotas, capacity, VIP
plumbing, children, builders and the UDP rules, on a real SQLite database, each refusal
asserted by its domain error and Octavia's message; and the one table that maps the
domain errors to each API's fault shape; and the import rules that keep the room free of
HTTP."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from nslb.api import faults
from nslb.db import ports
from nslb.db.engine import Database
from nslb.db.lb_ports import MEMBER_OWNER, VIP_OWNER
from nslb.db.migrate import upgrade
from nslb.lbaas import builders, capacity, children, errors, locks, quota, udp_rules, vip
from nslb.model import ipam
from nslb.model.resources import (
    HealthMonitor,
    L7Policy,
    Listener,
    LoadBalancer,
    Member,
    Network,
    Pool,
    Quota,
    Subnet,
)
from nslb.model.status import Event

PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"
OTHER = "aa1c8f1e4b5a4c6d9e0f112233445599"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("lbaas") / "nslb.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A write transaction rolled back after the test, so tests share one migrated file."""
    with db.read() as s:
        transaction = s.begin()
        yield s
        transaction.rollback()


@dataclass(frozen=True)
class Caller:
    project_id: str | None = PROJECT
    is_admin: bool = False


@dataclass(frozen=True)
class VipAsk:
    vip_port_id: str | None = None
    vip_subnet_id: str | None = None
    vip_network_id: str | None = None
    vip_address: str | None = None


def _network(session: Session, project: str = PROJECT,
             cidr: str = "10.237.1.0/24") -> tuple[Network, Subnet]:
    network = Network(project_id=project, name="n")
    plan = ipam.plan_subnet(cidr)
    subnet = Subnet(project_id=project, network_id=network.id, cidr=plan.cidr,
                    gateway_ip=plan.gateway_ip, allocation_pools=plan.allocation_pools)
    session.add_all([network, subnet])
    session.flush()
    return network, subnet


def _lb(session: Session, status: str = "ACTIVE", **kw: Any) -> LoadBalancer:
    lb = LoadBalancer(project_id=PROJECT, provisioning_status=status,
                      vip_address="10.237.1.10", **kw)
    session.add(lb)
    session.flush()
    return lb


def _listener(session: Session, lb: LoadBalancer, protocol: str = "HTTP",
              port: int = 80, status: str = "ACTIVE") -> Listener:
    listener = Listener(project_id=PROJECT, loadbalancer_id=lb.id, protocol=protocol,
                        protocol_port=port, provisioning_status=status)
    session.add(listener)
    session.flush()
    return listener


def _pool(session: Session, lb: LoadBalancer, status: str = "ACTIVE",
          protocol: str = "HTTP") -> Pool:
    pool = Pool(project_id=PROJECT, loadbalancer_id=lb.id, protocol=protocol,
                lb_algorithm="ROUND_ROBIN", provisioning_status=status)
    session.add(pool)
    session.flush()
    return pool


def _member(session: Session, pool: Pool, address: str = "10.237.2.5",
            port: int = 8080) -> Member:
    member = Member(project_id=PROJECT, pool_id=pool.id, loadbalancer_id=pool.loadbalancer_id,
                    address=address, protocol_port=port)
    session.add(member)
    session.flush()
    return member


# --- locks -------------------------------------------------------------------------------


def test_lock_moves_the_lb_to_pending_update_and_bumps_its_generation(
        session: Session) -> None:
    lb = _lb(session)
    locked = locks.lock_lb(session, lb.id)
    assert locked.provisioning_status == "PENDING_UPDATE"
    assert locked.generation == 2


def test_a_pending_lb_is_immutable_in_octavias_words(session: Session) -> None:
    lb = _lb(session, status="PENDING_UPDATE")
    with pytest.raises(errors.Immutable) as caught:
        locks.lock_lb(session, lb.id)
    assert caught.value.message == f"Load Balancer {lb.id} is immutable and cannot be updated."
    assert isinstance(caught.value, errors.Conflict)


def test_an_lb_in_error_may_be_deleted_but_a_missing_one_is_not_found(
        session: Session) -> None:
    lb = _lb(session, status="ERROR")
    assert locks.lock_lb(session, lb.id, Event.DELETE).provisioning_status == "PENDING_DELETE"
    with pytest.raises(errors.NotFound) as caught:
        locks.lock_lb(session, "0" * 32)
    assert caught.value.message == f"Load Balancer {'0' * 32} not found."


def test_a_member_change_needs_its_pool_mutable_first(session: Session) -> None:
    lb = _lb(session)
    pool = _pool(session, lb, status="PENDING_CREATE")
    with pytest.raises(errors.Immutable) as caught:
        locks.lock_pool_and_parents(session, pool)
    assert caught.value.message == f"Pool {pool.id} is immutable and cannot be updated."
    assert lb.provisioning_status == "ACTIVE"  # nothing moved before the refusal


def test_a_pool_change_moves_the_lb_the_listener_and_the_pool(session: Session) -> None:
    lb = _lb(session)
    listener = _listener(session, lb)
    pool = _pool(session, lb)
    listener.default_pool_id = pool.id
    session.flush()
    locks.lock_pool_and_parents(session, pool)
    assert (lb.provisioning_status, listener.provisioning_status,
            pool.provisioning_status) == ("PENDING_UPDATE",) * 3


def test_an_l7_rule_change_needs_its_policy_mutable(session: Session) -> None:
    lb = _lb(session)
    listener = _listener(session, lb)
    policy = L7Policy(project_id=PROJECT, listener_id=listener.id, loadbalancer_id=lb.id,
                      action="REJECT", position=1, provisioning_status="PENDING_UPDATE")
    session.add(policy)
    session.flush()
    with pytest.raises(errors.Immutable) as caught:
        locks.lock_policy_and_parents(session, policy)
    assert caught.value.message == f"L7 Policy {policy.id} is immutable and cannot be updated."
    policy.provisioning_status = "ACTIVE"
    locks.lock_policy_and_parents(session, policy)
    assert (lb.provisioning_status, policy.provisioning_status) == ("PENDING_UPDATE",) * 2


# --- quota and capacity ------------------------------------------------------------------


def test_quota_is_unlimited_by_default_and_met_at_the_projects_limit(
        session: Session) -> None:
    lb = _lb(session)
    _pool(session, lb)
    quota.enforce(session, PROJECT, {Pool: 100})
    session.add(Quota(project_id=PROJECT, pool=2))
    session.flush()
    quota.enforce(session, PROJECT, {Pool: 1})
    with pytest.raises(errors.QuotaExceeded) as caught:
        quota.enforce(session, PROJECT, {Pool: 2})
    assert caught.value.message == "Quota has been met for resources: Pool"
    assert quota.effective(session.get(Quota, PROJECT))["pool"] == 2
    assert quota.effective(None) == quota.DEFAULTS


def test_quota_counts_only_the_project(session: Session) -> None:
    _pool(session, _lb(session))
    session.add(Quota(project_id=OTHER, pool=1))
    session.flush()
    quota.enforce(session, OTHER, {Pool: 1})
    with pytest.raises(errors.QuotaExceeded):
        quota.enforce(session, OTHER, {HealthMonitor: 0, Pool: 2})


def test_capacity_refuses_what_would_not_fit_haproxys_descriptors(session: Session) -> None:
    lb = _lb(session)
    pool = _pool(session, lb)
    _listener(session, lb)
    for i in range(3):
        _member(session, pool, port=8000 + i)
    room = capacity.capacity(100_000)
    capacity.ensure_room(session, lb.id, members=room - 4, limit=100_000)
    with pytest.raises(errors.Conflict) as caught:
        capacity.ensure_room(session, lb.id, members=room - 3, limit=100_000)
    assert caught.value.message.startswith(
        f"Load Balancer {lb.id} cannot hold more than {room} listeners and members")
    capacity.ensure_room(session, lb.id, limit=1)  # nothing added: nothing to check


# --- children ----------------------------------------------------------------------------


def test_one_listener_per_layer4_protocol_and_port(session: Session) -> None:
    lb = _lb(session)
    _listener(session, lb, "HTTP", 80)
    children.check_port_free(session, lb.id, "UDP", 80)  # UDP 80 is another port
    with pytest.raises(errors.Conflict) as caught:
        children.check_port_free(session, lb.id, "TCP", 80)
    assert caught.value.message == ("Another Listener on this Load Balancer is already using "
                                    "protocol HTTP and protocol_port 80")


def test_one_member_per_address_and_port_and_one_monitor_per_pool(session: Session) -> None:
    lb = _lb(session)
    pool = _pool(session, lb)
    _member(session, pool, "10.237.2.5", 8080)
    children.check_member_free(session, pool.id, "10.237.2.5", 8081)
    with pytest.raises(errors.Conflict) as caught:
        children.check_member_free(session, pool.id, "10.237.2.5", 8080)
    assert caught.value.message == ("Another member on this pool is already using ip "
                                    "10.237.2.5 on protocol_port 8080")
    children.check_no_monitor(session, pool.id)
    session.add(HealthMonitor(project_id=PROJECT, pool_id=pool.id, loadbalancer_id=lb.id,
                              type="TCP", delay=5, timeout=3, max_retries=3))
    session.flush()
    with pytest.raises(errors.Conflict, match="^This pool already has a health monitor$"):
        children.check_no_monitor(session, pool.id)


def test_one_default_pool_per_listener_and_a_redirect_target_stays(session: Session) -> None:
    lb = _lb(session)
    listener = _listener(session, lb)
    children.check_no_default_pool(listener)
    pool = _pool(session, lb)
    listener.default_pool_id = pool.id
    with pytest.raises(errors.Conflict, match="^This listener already has a default pool$"):
        children.check_no_default_pool(listener)
    children.check_pool_unused(session, pool.id)
    policy = L7Policy(project_id=PROJECT, listener_id=listener.id, loadbalancer_id=lb.id,
                      action="REDIRECT_TO_POOL", redirect_pool_id=pool.id, position=1)
    session.add(policy)
    session.flush()
    with pytest.raises(errors.Conflict) as caught:
        children.check_pool_unused(session, pool.id)
    assert caught.value.message == f"Pool {pool.id} is in use by L7 policy {policy.id}"


def test_a_member_batch_names_each_address_and_port_once() -> None:
    children.check_batch_distinct([("10.237.2.5", 80), ("10.237.2.5", 81)])
    with pytest.raises(errors.ValidationFailure, match="Duplicate address and protocol_port"):
        children.check_batch_distinct([("10.237.2.5", 80), ("10.237.2.5", 80)])


def test_rule_count_and_delete_with_children() -> None:
    children.check_rule_count("p", children.MAX_RULES)
    with pytest.raises(errors.Conflict, match="^Too many rules on L7 policy p$"):
        children.check_rule_count("p", children.MAX_RULES + 1)
    children.check_deletable("lb", has_children=True, cascade=True)
    with pytest.raises(errors.ValidationFailure) as caught:
        children.check_deletable("lb", has_children=True, cascade=False)
    assert caught.value.message == ("Validation failure: Cannot delete Load Balancer lb - "
                                    "it has children")


# --- VIP plumbing ------------------------------------------------------------------------


def test_a_vip_from_a_subnet_takes_the_next_free_address(session: Session) -> None:
    network, subnet = _network(session)
    port, got_subnet, got_network = vip.allocate_vip(
        session, VipAsk(vip_subnet_id=subnet.id), Caller(), PROJECT, "lb1")
    assert (got_subnet.id, got_network.id) == (subnet.id, network.id)
    assert port.device_owner == VIP_OWNER and port.device_id == "lb-lb1"
    assert port.fixed_ips[0]["ip_address"] == "10.237.1.2"


def test_another_projects_subnet_answers_like_a_missing_one(session: Session) -> None:
    _, subnet = _network(session, project=OTHER)
    with pytest.raises(errors.ValidationFailure) as caught:
        vip.allocate_vip(session, VipAsk(vip_subnet_id=subnet.id), Caller(), PROJECT, "lb1")
    assert caught.value.message == f"Validation failure: Subnet {subnet.id} not found."
    with pytest.raises(errors.ValidationFailure, match="must contain one of"):
        vip.allocate_vip(session, VipAsk(), Caller(), PROJECT, "lb1")


def test_ipam_refusals_keep_neutrons_kinds(session: Session) -> None:
    """An address in use is a conflict, the gateway forbidden to a non-admin."""
    _, subnet = _network(session)
    ask = VipAsk(vip_subnet_id=subnet.id, vip_address="10.237.1.1")
    with pytest.raises(errors.Forbidden, match="gateway"):
        vip.allocate_vip(session, ask, Caller(), PROJECT, "lb1")
    vip.allocate_vip(session, ask, Caller(is_admin=True), PROJECT, "lb1")
    with pytest.raises(errors.Conflict):
        vip.allocate_vip(session, ask, Caller(is_admin=True), PROJECT, "lb2")


def test_adopting_a_port_in_use_is_a_conflict(session: Session) -> None:
    network, subnet = _network(session)
    port = ports.allocate_port(session, network=network, subnet=subnet, ip_address=None,
                               project_id=PROJECT, device_owner="compute:nova",
                               device_id="vm1")
    with pytest.raises(errors.Conflict) as caught:
        vip.allocate_vip(session, VipAsk(vip_port_id=port.id), Caller(), PROJECT, "lb1")
    assert caught.value.message == f"Port {port.id} is already in use by compute:nova vm1."


def test_a_member_subnet_gets_one_port_for_the_lb(session: Session) -> None:
    _, vip_subnet = _network(session)
    _, member_subnet = _network(session, cidr="10.237.2.0/24")
    for _ in range(2):
        vip.plug_member_subnet(session, "lb1", vip_subnet.id, "10.237.2.5", member_subnet.id,
                               Caller(), PROJECT)
    plugged = ports.member_ports(session, "lb1", PROJECT)
    assert [p.device_owner for p in plugged] == [MEMBER_OWNER]
    with pytest.raises(errors.ValidationFailure, match="is not on subnet"):
        vip.plug_member_subnet(session, "lb1", vip_subnet.id, "10.237.9.5", member_subnet.id,
                               Caller(), PROJECT)


# --- builders and UDP rules --------------------------------------------------------------


def _no_tls(fields: dict[str, Any]) -> None:
    fields.setdefault("client_authentication", "NONE")


TLS = builders.TlsRules(listener=_no_tls, pool=lambda fields: None, listener_fields=(),
                        pool_fields=())


def test_builders_take_plain_fields_and_leave_the_callers_dict_alone() -> None:
    lb = LoadBalancer(project_id=PROJECT, vip_address="10.237.1.10")
    request = {"protocol": "HTTP", "protocol_port": 80, "name": "web",
               "insert_headers": {"X-Forwarded-For": "true"}}
    listener = builders.new_listener(request, lb, PROJECT, TLS)
    assert (listener.protocol, listener.protocol_port, listener.name) == ("HTTP", 80, "web")
    assert listener.insert_headers == {"X-Forwarded-For": "true"}
    assert "client_authentication" not in request  # the TLS rules ran on a copy


def test_the_tls_rules_run_after_the_protocol_checks() -> None:
    """Octavia's order: a UDP listener with TLS refs is refused by the UDP rules before
    any TLS rule sees it, and an unserved protocol is the provider's 501 before TLS."""
    seen: list[str] = []

    def recording(fields: dict[str, Any]) -> None:
        seen.append(fields["protocol"])

    rules = builders.TlsRules(listener=recording, pool=recording, listener_fields=(),
                              pool_fields=())
    lb = LoadBalancer(project_id=PROJECT, vip_address="10.237.1.10")
    with pytest.raises(errors.Invalid):
        builders.new_listener({"protocol": "UDP", "protocol_port": 53,
                               "default_tls_container_ref": "x"}, lb, PROJECT, rules)
    with pytest.raises(errors.Unsupported) as caught:
        builders.new_listener({"protocol": "SCTP", "protocol_port": 53}, lb, PROJECT, rules)
    assert caught.value.message.startswith("Provider 'amphora' does not support a requested "
                                           "option: listener protocol SCTP")
    assert seen == []


def test_builder_refusals_in_octavias_words() -> None:
    lb = LoadBalancer(project_id=PROJECT, vip_address="10.237.1.10")
    with pytest.raises(errors.ValidationFailure) as caught:
        builders.new_listener({"protocol": "TCP", "protocol_port": 80,
                               "insert_headers": {"X-Forwarded-For": "true"}}, lb, PROJECT,
                              TLS)
    assert caught.value.message == ("Validation failure: The insert_headers option is only "
                                    "valid for HTTP and TERMINATED_HTTPS protocol listeners.")
    with pytest.raises(errors.ValidationFailure, match="invalid while the listener"):
        builders.check_protocols("UDP", "HTTP")
    with pytest.raises(errors.ListenerNoChildren) as no_children:
        builders.check_no_children("PROMETHEUS")
    assert no_children.value.message == "Protocol PROMETHEUS listeners cannot have child objects."
    pool = Pool(project_id=PROJECT, loadbalancer_id=lb.id, protocol="UDP",
                lb_algorithm="ROUND_ROBIN")
    with pytest.raises(errors.ValidationFailure) as udp_ping:
        builders.new_healthmonitor({"type": "PING", "delay": 5, "timeout": 3,
                                    "max_retries": 3}, pool, PROJECT)
    assert udp_ping.value.message == (
        "Validation failure: The associated pool protocol is UDP, so only a "
        "UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported.")
    http_pool = Pool(project_id=PROJECT, loadbalancer_id=lb.id, protocol="HTTP",
                     lb_algorithm="ROUND_ROBIN")
    with pytest.raises(errors.ValidationFailure) as tcp_path:
        builders.new_healthmonitor({"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 3,
                                    "url_path": "/x"}, http_pool, PROJECT)
    assert tcp_path.value.message == ("Validation failure: url_path cannot be used with "
                                      "health monitor type TCP.")
    with pytest.raises(errors.Unsupported, match="request_sriov"):
        builders.new_member({"address": "10.237.2.5", "protocol_port": 80,
                             "request_sriov": True}, pool, PROJECT, has_hm=False)


def test_a_member_is_offline_under_a_monitor_and_no_monitor_without() -> None:
    pool = Pool(project_id=PROJECT, loadbalancer_id="lb", protocol="HTTP",
                lb_algorithm="ROUND_ROBIN")
    fields = {"address": "10.237.2.5", "protocol_port": 80, "weight": 3}
    assert builders.new_member(fields, pool, PROJECT, has_hm=True).operating_status == "OFFLINE"
    member = builders.new_member(fields, pool, PROJECT, has_hm=False)
    assert (member.operating_status, member.weight) == ("NO_MONITOR", 3)


def test_udp_rules_refuse_least_connections_as_the_providers_501() -> None:
    with pytest.raises(errors.Unsupported):
        udp_rules.check_pool_algorithm("LEAST_CONNECTIONS", "UDP")
    udp_rules.check_pool_algorithm("LEAST_CONNECTIONS", "HTTP")


# --- the mapping to each API's fault ------------------------------------------------------


@pytest.mark.parametrize(("error", "status", "neutron_type"), [
    (errors.NotFound.of("Pool", "p1"), 404, "NotFound"),
    (errors.Immutable("Pool", "p1"), 409, "Conflict"),
    (errors.Conflict("in use"), 409, "Conflict"),
    (errors.ValidationFailure("bad"), 400, "BadRequest"),
    (errors.ListenerNoChildren(), 400, "BadRequest"),
    (errors.QuotaExceeded("Pool"), 403, "PolicyNotAuthorized"),
    (errors.Forbidden("gateway"), 403, "PolicyNotAuthorized"),
    (errors.Unsupported("x"), 501, "NeutronError"),
])
def test_each_domain_error_has_one_status_and_keeps_its_message(
        error: errors.DomainError, status: int, neutron_type: str) -> None:
    fault = faults.from_domain(error)
    assert fault.status == status
    assert fault.octavia_body() == {"faultcode": "Client" if status < 500 else "Server",
                                    "faultstring": error.message, "debuginfo": None}
    assert fault.neutron_body() == {"NeutronError": {"type": neutron_type,
                                                     "message": error.message, "detail": ""}}


# --- the import rules (docs/architecture.md) ----------------------------------------------


def _imports(package: Path) -> dict[str, set[str]]:
    """Every module a package's files import, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_domain_room_imports_no_http() -> None:
    for path, names in _imports(ROOT / "nslb" / "lbaas").items():
        http = {n for n in names if n.startswith(("nslb.api", "starlette", "uvicorn"))}
        assert not http, (path, http)


def test_the_api_packages_import_the_shared_edge_not_each_other() -> None:
    packages = ("octavia", "neutron", "keystone", "barbican")
    for package in packages:
        others = tuple(f"nslb.api.{p}" for p in packages if p != package)
        for path, names in _imports(ROOT / "nslb" / "api" / package).items():
            crossing = {n for n in names if n.startswith(others)}
            assert not crossing, (path, crossing)
