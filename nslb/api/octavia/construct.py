"""Octavia's request bodies handed to the domain builders (nslb/lbaas/builders.py).

The builders take plain fields and an API's TLS rules; this is where Octavia's validated
bodies become those fields (None values left out, as Octavia treats an unset attribute)
and where Octavia's TLS rules (api/octavia/tls.py: defaults, this host's OpenSSL) are
named, so the per-resource handlers and the single-call tree create build alike.
"""

from __future__ import annotations

from typing import Any

from nslb.api.octavia import schemas as s
from nslb.api.octavia import tls
from nslb.lbaas import builders
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool


def _listener_tls(fields: dict[str, Any]) -> None:
    tls.listener_defaults(fields)
    tls.listener_rules(fields)


def _pool_tls(fields: dict[str, Any]) -> None:
    tls.pool_defaults(fields)
    tls.pool_rules(fields)


TLS = builders.TlsRules(listener=_listener_tls, pool=_pool_tls,
                        listener_fields=tls.LISTENER_FIELDS, pool_fields=tls.POOL_FIELDS)


def new_listener(data: s.ListenerSingleCreate, lb: LoadBalancer, project_id: str) -> Listener:
    return builders.new_listener(data.model_dump(exclude_none=True), lb, project_id, TLS)


def new_pool(data: s.PoolSingleCreate, lb: LoadBalancer, project_id: str) -> Pool:
    return builders.new_pool(data.model_dump(exclude_none=True), lb, project_id, TLS)


def new_member(data: s.MemberCreate, pool: Pool, project_id: str, has_hm: bool,
               vip_address: str = "") -> Member:
    return builders.new_member(data.model_dump(exclude_none=True), pool, project_id, has_hm,
                               vip_address)


def new_healthmonitor(data: s.HealthMonitorSingleCreate, pool: Pool,
                      project_id: str) -> HealthMonitor:
    return builders.new_healthmonitor(data.model_dump(exclude_none=True), pool, project_id)


def listener_tls_fields(data: s.ListenerSingleCreate) -> dict[str, Any]:
    """A new listener's fields with Octavia's TLS defaults, checked by the TLS rules."""
    return builders.listener_tls_fields(data.model_dump(exclude_none=True), TLS)


def pool_tls_fields(data: s.PoolSingleCreate) -> dict[str, Any]:
    """A new pool's fields with Octavia's TLS defaults, checked by the TLS rules."""
    return builders.pool_tls_fields(data.model_dump(exclude_none=True), TLS)
