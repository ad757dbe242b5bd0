"""Validated construction of listeners, pools, members and health monitors.

Used by the per-resource POST handlers and by the single-call tree create, so the rules
live in one place. Every rule that HAProxy would otherwise trip over is a 400 here.

The builders take a request's fields as a plain dict (the API's validated body, None
values left out) and the API's TLS rules (`TlsRules`), which run between the protocol
checks and the option checks, as in Octavia's controllers.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nslb.db.query import short
from nslb.lbaas import udp_rules
from nslb.lbaas.errors import Invalid, ListenerNoChildren, Unsupported, ValidationFailure
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
Fields = dict[str, Any]


@dataclass(frozen=True)
class TlsRules:
    """An API's TLS rules for a new listener or pool: each fills in the API's defaults and
    checks the fields in place (Octavia's need this host's OpenSSL and the key manager's
    grammar: api/octavia/tls.py); `*_fields` are the TLS fields copied onto the object."""

    listener: Callable[[Fields], None]
    pool: Callable[[Fields], None]
    listener_fields: tuple[str, ...]
    pool_fields: tuple[str, ...]


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
    """Rules for the mutable listener fields, shared by create and update (the TLS rules
    run over the whole listener: TlsRules.listener)."""
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
        if key in enums.INSERT_HEADERS_TLS_ONLY and protocol != "TERMINATED_HTTPS":
            raise ValidationFailure(f"{key} is only valid for TERMINATED_HTTPS listeners.")
        if key not in enums.INSERT_HEADERS_ACCEPTED | enums.INSERT_HEADERS_TLS_ONLY:
            raise ValidationFailure(f"Unsupported header in insert_headers: {short(key)}")
        if value.lower() not in ("true", "false"):
            raise ValidationFailure(f"Value of insert_headers {key} must be 'true' or 'false'.")


def new_listener(request: Fields, lb: LoadBalancer, project_id: str,
                 tls: TlsRules) -> Listener:
    protocol = request["protocol"]
    udp_rules.check_listener_create(request, protocol)  # Octavia's 400s come first
    if protocol == "SCTP":
        raise Unsupported(f"listener protocol {udp_rules.NO_SCTP}")
    if protocol not in enums.SUPPORTED_LISTENER_PROTOCOLS:
        raise Unsupported(f"listener protocol {protocol}")
    fields = listener_tls_fields(request, tls)
    check_listener_options(fields, protocol, lb.vip_address)
    listener = Listener(project_id=project_id, loadbalancer_id=lb.id, protocol=protocol,
                        protocol_port=fields["protocol_port"], **_common(fields))
    for key in ("connection_limit", "timeout_client_data", "timeout_member_connect",
                "timeout_member_data", "timeout_tcp_inspect", "allowed_cidrs",
                "insert_headers", "default_pool_id", "connection_logging",
                *tls.listener_fields):
        if key in fields:
            setattr(listener, key, fields[key])
    return listener


def listener_tls_fields(request: Fields, tls: TlsRules) -> Fields:
    """A new listener's fields (a copy) with the API's TLS defaults, checked by its TLS
    rules."""
    if request["protocol"] not in enums.SUPPORTED_LISTENER_PROTOCOLS:
        raise Unsupported(f"listener protocol {request['protocol']}")
    fields = copy.deepcopy(request)
    tls.listener(fields)
    return fields


def check_no_children(listener_protocol: str) -> None:
    """Octavia: a PROMETHEUS listener takes no pool or L7 policy (400, checked before the
    pool's protocol)."""
    if listener_protocol == enums.ListenerProtocol.PROMETHEUS:
        raise ListenerNoChildren(listener_protocol)


def check_protocols(listener_protocol: str, pool_protocol: str) -> None:
    """Octavia's _validate_protocol: the listener/pool combination is checked before the
    provider sees the object, so a misfit is a 400 even for a protocol nslb does not serve
    (which would otherwise be the provider's 501)."""
    check_no_children(listener_protocol)
    if pool_protocol not in enums.LISTENER_POOL_PROTOCOLS.get(listener_protocol, frozenset()):
        raise ValidationFailure(
            f"The pool protocol '{pool_protocol}' is invalid while the listener protocol is "
            f"'{listener_protocol}'.")


def check_pool_for_listener(pool: Pool, listener: Listener) -> None:
    check_protocols(listener.protocol, pool.protocol)


# --- pools -----------------------------------------------------------------------------


def check_pool_options(fields: dict[str, Any], protocol: str, vip_address: str = "",
                       update: bool = False) -> None:
    """Rules for the mutable pool fields, shared by create and update (the TLS rules run
    over the whole pool: TlsRules.pool)."""
    sp = fields.get("session_persistence")
    udp_rules.check_persistence(sp, protocol, update)
    algorithm = fields.get("lb_algorithm")
    if algorithm is not None and algorithm not in enums.SUPPORTED_ALGORITHMS:
        raise Unsupported(f"lb_algorithm {algorithm}")
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


def new_pool(request: Fields, lb: LoadBalancer, project_id: str, tls: TlsRules) -> Pool:
    protocol = request["protocol"]
    udp_rules.check_persistence(request.get("session_persistence"), protocol)
    if protocol == "SCTP":
        raise Unsupported(f"pool protocol {udp_rules.NO_SCTP}")
    if protocol not in enums.SUPPORTED_POOL_PROTOCOLS:
        raise Unsupported(f"pool protocol {protocol}")
    fields = pool_tls_fields(request, tls)
    check_pool_options(fields, protocol, lb.vip_address)
    pool = Pool(project_id=project_id, loadbalancer_id=lb.id, protocol=protocol,
                lb_algorithm=fields["lb_algorithm"],
                session_persistence=fields.get("session_persistence"), **_common(fields))
    for key in ("tls_enabled", *tls.pool_fields):
        if key in fields:
            setattr(pool, key, fields[key])
    return pool


def pool_tls_fields(request: Fields, tls: TlsRules) -> Fields:
    """A new pool's fields (a copy) with the API's TLS defaults, checked by its TLS rules."""
    if request["protocol"] not in enums.SUPPORTED_POOL_PROTOCOLS:
        raise Unsupported(f"pool protocol {request['protocol']}")
    fields = copy.deepcopy(request)
    tls.pool(fields)
    return fields


# --- members ---------------------------------------------------------------------------


def new_member(fields: Fields, pool: Pool, project_id: str, has_hm: bool,
               vip_address: str = "") -> Member:
    if fields.get("request_sriov"):
        raise Unsupported("request_sriov")
    udp_rules.check_member_family(fields["address"], pool.protocol, vip_address)
    member = Member(project_id=project_id, pool_id=pool.id, loadbalancer_id=pool.loadbalancer_id,
                    address=fields["address"], protocol_port=fields["protocol_port"],
                    subnet_id=fields.get("subnet_id"),
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
            raise Invalid(f"http_version {version} is not a valid option for health "
                             "monitors HTTP 1.1 domain name health check")


def new_healthmonitor(fields: Fields, pool: Pool, project_id: str) -> HealthMonitor:
    hm_type = fields["type"]
    udp_rules.check_monitor(hm_type, fields["delay"], pool.protocol)
    if hm_type == "SCTP":
        raise Unsupported(f"health monitor type {udp_rules.NO_SCTP}")
    if hm_type not in enums.SUPPORTED_HM_TYPES:
        raise Unsupported(f"health monitor type {hm_type}")
    check_hm_fields(fields, hm_type)
    if hm_type == "PING" and pool.protocol not in ("HTTP", "HTTPS", "TCP", "PROXY",
                                                   "PROXYV2"):
        raise Invalid(f"PING health monitors are not valid for {pool.protocol} pools.")
    hm = HealthMonitor(project_id=project_id, pool_id=pool.id,
                       loadbalancer_id=pool.loadbalancer_id, type=hm_type,
                       delay=fields["delay"], timeout=fields["timeout"],
                       max_retries=fields["max_retries"], **_common(fields))
    hm.max_retries_down = fields.get("max_retries_down", 3)
    if hm_type in ("HTTP", "HTTPS"):
        hm.http_method = fields.get("http_method", "GET")
        hm.url_path = fields.get("url_path", "/")
        hm.expected_codes = fields.get("expected_codes", "200")
        hm.http_version = fields.get("http_version")
        hm.domain_name = fields.get("domain_name")
    return hm
