"""Model objects -> Octavia's JSON, field for field as Octavia's response types emit them.

Octavia renders its WSME response types: an attribute it never set (WSME's Unset) is left
out of the JSON, one set to None is `null`. So a pool without a health monitor has no
`healthmonitor_id` key at all, and the objects nested in a fully-populated create (the
`*FullResponse` types) leave out the back references (`loadbalancers`, `healthmonitor_id`,
a health monitor's `pools`) that the plain responses carry. Unset `name`/`description`
come back as "" (BaseType.from_db_obj). The shapes do not depend on the microversion:
Octavia serves one shape for every 2.x version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nslb.model.resources import (
    HealthMonitor,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Resource,
)


def ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ids(values: list[str]) -> list[dict[str, str]]:
    return [{"id": v} for v in values]


def _base(obj: Resource) -> dict[str, Any]:
    return {
        "id": obj.id,
        "name": obj.name,
        "description": obj.description,
        "provisioning_status": obj.provisioning_status,
        "operating_status": obj.operating_status,
        "admin_state_up": obj.admin_state_up,
        "project_id": obj.project_id,
        "tenant_id": obj.project_id,
        "created_at": ts(obj.created_at),
        "updated_at": ts(obj.updated_at),
        "tags": list(obj.tags),
    }


def loadbalancer(lb: LoadBalancer, listener_ids: list[str], pool_ids: list[str]) -> dict[str, Any]:
    return {
        **_base(lb),
        "vip_address": lb.vip_address,
        "vip_port_id": lb.vip_port_id,
        "vip_subnet_id": lb.vip_subnet_id,
        "vip_network_id": lb.vip_network_id,
        "vip_qos_policy_id": lb.vip_qos_policy_id,
        "vip_sg_ids": [],
        "vip_vnic_type": "normal",
        "additional_vips": [],
        "listeners": ids(listener_ids),
        "pools": ids(pool_ids),
        "provider": lb.provider,
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
    }


def listener(li: Listener, l7policy_ids: list[str] | None = None) -> dict[str, Any]:
    return {
        **_base(li),
        "protocol": li.protocol,
        "protocol_port": li.protocol_port,
        "connection_limit": li.connection_limit,
        "default_pool_id": li.default_pool_id,
        "default_tls_container_ref": li.default_tls_container_ref,
        "sni_container_refs": list(li.sni_container_refs),
        "l7policies": ids(l7policy_ids or []),
        "insert_headers": dict(li.insert_headers),
        "loadbalancers": ids([li.loadbalancer_id]),
        "timeout_client_data": li.timeout_client_data,
        "timeout_member_connect": li.timeout_member_connect,
        "timeout_member_data": li.timeout_member_data,
        "timeout_tcp_inspect": li.timeout_tcp_inspect,
        "client_ca_tls_container_ref": li.client_ca_tls_container_ref,
        "client_authentication": li.client_authentication,
        "client_crl_container_ref": li.client_crl_container_ref,
        "allowed_cidrs": list(li.allowed_cidrs) or None,
        "tls_ciphers": li.tls_ciphers,
        "tls_versions": _list_or_none(li.tls_versions),
        "alpn_protocols": _list_or_none(li.alpn_protocols),
        "hsts_max_age": li.hsts_max_age,
        "hsts_include_subdomains": li.hsts_include_subdomains,
        "hsts_preload": li.hsts_preload,
        "connection_logging": li.connection_logging,
    }


def _list_or_none(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def session_persistence(sp: dict[str, Any] | None) -> dict[str, Any] | None:
    if not sp:
        return None
    return {
        "type": sp["type"],
        "cookie_name": sp.get("cookie_name"),
        "persistence_timeout": sp.get("persistence_timeout"),
        "persistence_granularity": sp.get("persistence_granularity"),
    }


def pool(p: Pool, listener_ids: list[str], member_ids: list[str],
         hm_id: str | None) -> dict[str, Any]:
    """PoolResponse: `healthmonitor_id` only when the pool has one."""
    out = {
        **_base(p),
        "protocol": p.protocol,
        "lb_algorithm": p.lb_algorithm,
        "session_persistence": session_persistence(p.session_persistence),
        "loadbalancers": ids([p.loadbalancer_id]),
        "listeners": ids(listener_ids),
        "members": ids(member_ids),
        "healthmonitor_id": hm_id,
        "tls_enabled": p.tls_enabled,
        "tls_container_ref": p.tls_container_ref,
        "ca_tls_container_ref": p.ca_tls_container_ref,
        "crl_container_ref": p.crl_container_ref,
        "tls_ciphers": p.tls_ciphers,
        "tls_versions": _list_or_none(p.tls_versions),
        "alpn_protocols": _list_or_none(p.alpn_protocols),
    }
    if hm_id is None:
        del out["healthmonitor_id"]
    return out


def pool_full(p: Pool, listener_ids: list[str], members: list[Member],
              hm: HealthMonitor | None) -> dict[str, Any]:
    """PoolFullResponse (inside a fully-populated load balancer): members and the health
    monitor inline, no `loadbalancers` and no `healthmonitor_id`."""
    out = pool(p, listener_ids, [], None)
    del out["loadbalancers"]
    out["members"] = [member(m) for m in members]
    if hm is not None:
        out["healthmonitor"] = healthmonitor_full(hm)
    return out


def member(m: Member) -> dict[str, Any]:
    out = _base(m)
    del out["description"]
    return {
        **out,
        "address": m.address,
        "protocol_port": m.protocol_port,
        "weight": m.weight,
        "backup": m.backup,
        "subnet_id": m.subnet_id,
        "monitor_address": m.monitor_address,
        "monitor_port": m.monitor_port,
        "vnic_type": "normal",
    }


def healthmonitor(h: HealthMonitor) -> dict[str, Any]:
    out = _base(h)
    del out["description"]
    return {
        **out,
        "type": h.type,
        "delay": h.delay,
        "timeout": h.timeout,
        "max_retries": h.max_retries,
        "max_retries_down": h.max_retries_down,
        "http_method": h.http_method,
        "url_path": h.url_path,
        "expected_codes": h.expected_codes,
        "http_version": h.http_version,
        "domain_name": h.domain_name,
        "pools": ids([h.pool_id]),
    }


def healthmonitor_full(h: HealthMonitor) -> dict[str, Any]:
    """HealthMonitorFullResponse: without the `pools` back reference."""
    out = healthmonitor(h)
    del out["pools"]
    return out


def stats(counters: dict[str, int]) -> dict[str, Any]:
    keys = ("bytes_in", "bytes_out", "active_connections", "total_connections",
            "request_errors")
    return {"stats": {k: int(counters.get(k, 0)) for k in keys}}
