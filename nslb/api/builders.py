"""Validated construction of listeners, pools, members and health monitors.

Used by the per-resource POST handlers and by the single-call tree create, so the rules
live in one place. Every rule that HAProxy would otherwise trip over is a 400 here.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from nslb.api import schemas as s
from nslb.api import udp_rules
from nslb.api.faults import BadRequest, NotImplementedOption, ValidationFailure
from nslb.db.query import short
from nslb.model import enums
from nslb.model.enums import AmphoraRole, AmphoraStatus, Topology
from nslb.model.resources import (
    VRRP_PRIORITY,
    Amphora,
    HealthMonitor,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)

HTTP_HM_FIELDS = ("http_method", "url_path", "expected_codes", "http_version", "domain_name")
LISTENER_TLS_FIELDS = ("default_tls_container_ref", "sni_container_refs",
                       "client_ca_tls_container_ref", "client_crl_container_ref",
                       "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age")
POOL_TLS_FIELDS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
                   "tls_ciphers", "tls_versions", "alpn_protocols")


def new_amphorae(lb: LoadBalancer, topology: str = Topology.SINGLE) -> list[Amphora]:
    """The amphorae a new LB gets: one STANDALONE (SINGLE), or a MASTER and a BACKUP
    (ACTIVE_STANDBY). The worker places and builds them; their rows are written with the
    LB so the intent survives a crash."""
    roles = ((AmphoraRole.MASTER, AmphoraRole.BACKUP) if topology == Topology.ACTIVE_STANDBY
             else (AmphoraRole.STANDALONE,))
    return [Amphora(loadbalancer_id=lb.id, role=role, status=AmphoraStatus.PENDING_CREATE,
                    ha_ip=lb.vip_address, ha_port_id=lb.vip_port_id,
                    vrrp_priority=VRRP_PRIORITY.get(role)) for role in roles]


def _common(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data[k] for k in ("name", "description", "admin_state_up", "tags")
           if data.get(k) is not None}
    return out


# --- listeners -------------------------------------------------------------------------


def check_listener_options(fields: dict[str, Any], protocol: str, vip_address: str) -> None:
    """Rules for the mutable listener fields, shared by create and update."""
    for name in LISTENER_TLS_FIELDS:
        if fields.get(name):
            raise NotImplementedOption(f"{name} (TLS termination is not supported yet)")
    if fields.get("client_authentication") not in (None, "NONE"):
        raise NotImplementedOption("client_authentication (TLS client authentication)")
    if fields.get("hsts_include_subdomains") or fields.get("hsts_preload"):
        raise NotImplementedOption("HSTS (TLS termination is not supported yet)")
    headers = fields.get("insert_headers") or {}
    if headers:
        _check_insert_headers(headers, protocol)
    cidrs = fields.get("allowed_cidrs") or []
    vip_version = ipaddress.ip_address(vip_address).version if vip_address else None
    for cidr in cidrs:
        if vip_version and ipaddress.ip_network(cidr).version != vip_version:
            raise ValidationFailure(
                f"CIDR {cidr} IP version incompatible with VIP {vip_address} IP version.")
    if len(set(cidrs)) != len(cidrs):
        raise ValidationFailure("allowed_cidrs contains duplicate entries.")


def _check_insert_headers(headers: dict[str, str], protocol: str) -> None:
    if protocol not in ("HTTP", "TERMINATED_HTTPS"):
        raise ValidationFailure(
            "The insert_headers option is only valid for HTTP and TERMINATED_HTTPS protocol "
            "listeners.")
    for key, value in headers.items():
        if key in enums.INSERT_HEADERS_TLS_ONLY:
            raise ValidationFailure(f"{key} is only valid for TERMINATED_HTTPS listeners.")
        if key not in enums.INSERT_HEADERS_ACCEPTED:
            raise ValidationFailure(f"Unsupported header in insert_headers: {short(key)}")
        if value.lower() not in ("true", "false"):
            raise ValidationFailure(f"Value of insert_headers {key} must be 'true' or 'false'.")


def new_listener(data: s.ListenerSingleCreate, lb: LoadBalancer, project_id: str) -> Listener:
    fields = data.model_dump(exclude_none=True)
    udp_rules.check_listener_create(fields, data.protocol)  # Octavia's 400s come first
    if data.protocol == "SCTP":
        raise NotImplementedOption(f"listener protocol {udp_rules.NO_SCTP}")
    if data.protocol not in enums.SUPPORTED_LISTENER_PROTOCOLS:
        raise NotImplementedOption(f"listener protocol {data.protocol}")
    check_listener_options(fields, data.protocol, lb.vip_address)
    listener = Listener(project_id=project_id, loadbalancer_id=lb.id, protocol=data.protocol,
                        protocol_port=data.protocol_port, **_common(fields))
    for key in ("connection_limit", "timeout_client_data", "timeout_member_connect",
                "timeout_member_data", "timeout_tcp_inspect", "allowed_cidrs",
                "insert_headers", "default_pool_id"):
        if key in fields:
            setattr(listener, key, fields[key])
    return listener


def check_pool_for_listener(pool: Pool, listener: Listener) -> None:
    allowed = enums.LISTENER_POOL_PROTOCOLS.get(listener.protocol, frozenset())
    if pool.protocol not in allowed:
        raise ValidationFailure(
            f"The pool protocol '{pool.protocol}' is invalid while the listener protocol is "
            f"'{listener.protocol}'.")


# --- pools -----------------------------------------------------------------------------


def check_pool_options(fields: dict[str, Any], protocol: str, vip_address: str = "",
                       update: bool = False) -> None:
    """Rules for the mutable pool fields, shared by create and update."""
    sp = fields.get("session_persistence")
    udp_rules.check_persistence(sp, protocol, update)
    for name in POOL_TLS_FIELDS:
        if fields.get(name):
            raise NotImplementedOption(f"{name} (backend TLS is not supported yet)")
    if fields.get("tls_enabled"):
        raise NotImplementedOption("tls_enabled (backend TLS is not supported yet)")
    algorithm = fields.get("lb_algorithm")
    if algorithm is not None and algorithm not in enums.SUPPORTED_ALGORITHMS:
        raise NotImplementedOption(f"lb_algorithm {algorithm}")
    udp_rules.check_pool_algorithm(algorithm, protocol)
    if sp:
        check_persistence(sp, protocol)
        udp_rules.check_granularity(sp, vip_address)


def check_persistence(sp: dict[str, Any], protocol: str) -> None:
    """The cookie rules of Octavia's validate.check_session_persistence (the UDP-only
    fields were checked by udp_rules.check_persistence)."""
    kind = sp["type"]
    if kind == "APP_COOKIE" and not sp.get("cookie_name"):
        raise ValidationFailure("cookie_name must be specified for APP_COOKIE persistence.")
    if kind != "APP_COOKIE" and sp.get("cookie_name"):
        raise ValidationFailure(f"Cookie names are not supported for {kind} persistence.")
    if kind in ("APP_COOKIE", "HTTP_COOKIE") and protocol != "HTTP":
        raise ValidationFailure(f"{kind} persistence is only valid for HTTP pools.")


def new_pool(data: s.PoolSingleCreate, lb: LoadBalancer, project_id: str) -> Pool:
    fields = data.model_dump(exclude_none=True)
    udp_rules.check_persistence(fields.get("session_persistence"), data.protocol)
    if data.protocol == "SCTP":
        raise NotImplementedOption(f"pool protocol {udp_rules.NO_SCTP}")
    if data.protocol not in enums.SUPPORTED_POOL_PROTOCOLS:
        raise NotImplementedOption(f"pool protocol {data.protocol}")
    check_pool_options(fields, data.protocol, lb.vip_address)
    return Pool(project_id=project_id, loadbalancer_id=lb.id, protocol=data.protocol,
                lb_algorithm=data.lb_algorithm,
                session_persistence=fields.get("session_persistence"), **_common(fields))


# --- members ---------------------------------------------------------------------------


def new_member(data: s.MemberCreate, pool: Pool, project_id: str, has_hm: bool,
               vip_address: str = "") -> Member:
    if data.request_sriov:
        raise NotImplementedOption("request_sriov")
    udp_rules.check_member_family(data.address, pool.protocol, vip_address)
    fields = data.model_dump(exclude_none=True)
    member = Member(project_id=project_id, pool_id=pool.id, loadbalancer_id=pool.loadbalancer_id,
                    address=data.address, protocol_port=data.protocol_port,
                    subnet_id=data.subnet_id,
                    operating_status="OFFLINE" if has_hm else "NO_MONITOR", **_common(fields))
    for key in ("weight", "backup", "monitor_address", "monitor_port"):
        if key in fields:
            setattr(member, key, fields[key])
    return member


# --- health monitors -------------------------------------------------------------------


def check_hm_fields(fields: dict[str, Any], hm_type: str) -> None:
    if hm_type not in ("HTTP", "HTTPS"):
        extra = [k for k in HTTP_HM_FIELDS if fields.get(k) is not None]
        if extra:
            raise ValidationFailure(
                f"{', '.join(extra)} cannot be used with health monitor type {hm_type}.")
    if fields.get("domain_name"):
        version = fields.get("http_version")
        if not version:
            raise ValidationFailure(
                "'http_version' must be specified when 'domain_name' is provided.")
        if version < 1.1:
            raise BadRequest(f"http_version {version} is not a valid option for health "
                             "monitors HTTP 1.1 domain name health check")


def new_healthmonitor(data: s.HealthMonitorSingleCreate, pool: Pool,
                      project_id: str) -> HealthMonitor:
    udp_rules.check_monitor(data.type, data.delay, pool.protocol)
    if data.type == "SCTP":
        raise NotImplementedOption(f"health monitor type {udp_rules.NO_SCTP}")
    if data.type not in enums.SUPPORTED_HM_TYPES:
        raise NotImplementedOption(f"health monitor type {data.type}")
    fields = data.model_dump(exclude_none=True)
    check_hm_fields(fields, data.type)
    if data.type == "PING" and pool.protocol not in ("HTTP", "HTTPS", "TCP", "PROXY",
                                                     "PROXYV2"):
        raise BadRequest(f"PING health monitors are not valid for {pool.protocol} pools.")
    hm = HealthMonitor(project_id=project_id, pool_id=pool.id,
                       loadbalancer_id=pool.loadbalancer_id, type=data.type, delay=data.delay,
                       timeout=data.timeout, max_retries=data.max_retries, **_common(fields))
    hm.max_retries_down = fields.get("max_retries_down", 3)
    if data.type in ("HTTP", "HTTPS"):
        hm.http_method = fields.get("http_method", "GET")
        hm.url_path = fields.get("url_path", "/")
        hm.expected_codes = fields.get("expected_codes", "200")
        hm.http_version = fields.get("http_version")
        hm.domain_name = fields.get("domain_name")
    return hm
