"""What each notification carries. Pure.

Octavia's own events carry the load balancer as its provider drivers see it
(octavia-lib's LoadBalancer.to_dict(): lists and unset fields left out, `flavor` only when
the LB has one, as the flavor profile's metadata). nslb's extra events carry the object's
identity, its parents and statuses: enough to route an alert without another API call.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from nslb.model.resources import (
    Amphora,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
    Resource,
)

# Octavia's resource names, as in its API paths and policy rules.
KIND: dict[type, str] = {LoadBalancer: "loadbalancer", Listener: "listener", Pool: "pool",
                         Member: "member", HealthMonitor: "healthmonitor",
                         L7Policy: "l7policy", L7Rule: "l7rule"}
# The attribute naming each kind's parent, and what the parent is.
PARENT: dict[type, tuple[str, type]] = {
    Listener: ("loadbalancer_id", LoadBalancer), Pool: ("loadbalancer_id", LoadBalancer),
    Member: ("pool_id", Pool), HealthMonitor: ("pool_id", Pool),
    L7Policy: ("listener_id", Listener), L7Rule: ("l7policy_id", L7Policy),
}
# Fields that say which object it is, beyond its id and name.
IDENTITY: dict[type, tuple[str, ...]] = {
    Listener: ("protocol", "protocol_port"), Pool: ("protocol", "lb_algorithm"),
    Member: ("address", "protocol_port", "subnet_id"), HealthMonitor: ("type",),
    L7Policy: ("action", "position"), L7Rule: ("type", "compare_type"),
    LoadBalancer: ("vip_address",),
}
REASON_LIMIT = 500  # characters of a failure's reason carried in an event


def kind(obj: object) -> str:
    return KIND[type(obj)]


def parent_id(obj: object) -> str | None:
    entry = PARENT.get(type(obj))
    return getattr(obj, entry[0]) if entry else None


def loadbalancer(lb: LoadBalancer, flavor_data: str | None = None) -> dict[str, Any]:
    """The payload of octavia.loadbalancer.*.end: octavia-lib's provider LoadBalancer
    dict. `flavor_data`: the flavor profile's JSON text when the LB has a flavor."""
    out: dict[str, Any] = {
        "admin_state_up": lb.admin_state_up, "description": lb.description,
        "loadbalancer_id": lb.id, "name": lb.name, "project_id": lb.project_id,
        "vip_address": lb.vip_address, "vip_network_id": lb.vip_network_id,
        "vip_port_id": lb.vip_port_id, "vip_subnet_id": lb.vip_subnet_id,
        "vip_qos_policy_id": lb.vip_qos_policy_id,
        "availability_zone": lb.availability_zone,
    }
    if lb.flavor_id:
        out["flavor"] = json.loads(flavor_data) if flavor_data else {}
    return out


# Row bookkeeping that octavia-lib's provider objects do not carry.
BOOKKEEPING = frozenset({"id", "provisioning_status", "operating_status", "tags", "created_at",
                         "updated_at"})


def provider(obj: Resource) -> dict[str, Any]:
    """The payload of octavia.<kind>.*.end for a child of an LB: the object as octavia-lib
    hands it to provider drivers (`<kind>_id`, its parents' ids, its settings; statuses and
    tags left out), plus `loadbalancer_id` on every kind, so a consumer can route it."""
    out: dict[str, Any] = {f"{kind(obj)}_id": obj.id}
    for f in fields(obj):
        if f.name not in BOOKKEEPING:
            value = getattr(obj, f.name)
            out[f.name] = list(value) if isinstance(value, list) else \
                dict(value) if isinstance(value, dict) else value
    return out


def resource(obj: Resource, lb: LoadBalancer) -> dict[str, Any]:
    """An nslb event's view of any object of an LB's tree."""
    out: dict[str, Any] = {"id": obj.id, "name": obj.name, "project_id": obj.project_id,
                           "loadbalancer_id": lb.id}
    entry = PARENT.get(type(obj))
    if entry is not None and entry[0] != "loadbalancer_id":
        out[entry[0]] = getattr(obj, entry[0])
    for name in IDENTITY.get(type(obj), ()):
        out[name] = getattr(obj, name)
    out["provisioning_status"] = str(obj.provisioning_status)
    out["operating_status"] = str(obj.operating_status)
    return out


def amphora(amp: Amphora, project_id: str | None) -> dict[str, Any]:
    return {"id": amp.id, "loadbalancer_id": amp.loadbalancer_id, "project_id": project_id,
            "role": amp.role, "status": str(amp.status), "compute_id": amp.compute_id,
            "vrrp_ip": amp.vrrp_ip, "ha_ip": amp.ha_ip, "vrrp_priority": amp.vrrp_priority}


def reason(text: str | None) -> str | None:
    """A failure's reason as carried in an event: bounded, like the API's fault texts."""
    if text is None:
        return None
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT] + "..."
