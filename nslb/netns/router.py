"""Floating IP routers on this host: one namespace per router, plugged like an amphora.

A router has two ports, each a veth into a bridge exactly as plug() builds them: one on the
external network's segment carrying the floating addresses (the kernel answers ARP for
them there, and plug() announces each new one with a gratuitous ARP), one on the internal
subnet's segment carrying the subnet's gateway address. IP forwarding is on, and the NAT
rules are an nftables file loaded atomically inside the namespace (netns/nftables.py).

Everything converges: apply_router() on a healthy router changes nothing on the wire, and
on a broken one (a deleted namespace, a lost address, flushed rules) it repairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from nslb.netns import nftables
from nslb.netns.bridges import BridgeRegistry, prune_bridges
from nslb.netns.names import port_key
from nslb.netns.namespaces import (
    delete_namespace,
    ensure_namespace,
    list_namespaces,
    namespace_exists,
)
from nslb.netns.ports import PortPlan, plug, plugged_port_prefixes, unplug
from nslb.netns.sysctl import set_in_namespace

ROUTER_PREFIX = "nslbr-"
# Forwarding; secondaries promoted when the first floating address of the external
# interface goes (else the kernel drops the others with it); no redirects to the LBs.
ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.promote_secondaries": "1",
    "net.ipv4.conf.default.promote_secondaries": "1",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
}


@dataclass(frozen=True)
class RouterPlan:
    """Everything needed to build one router; `rules` is a rendered nftables file."""

    router_id: str
    external: PortPlan
    internal: PortPlan
    rules: str


def router_namespace(router_id: str) -> str:
    return f"{ROUTER_PREFIX}{router_id}"


def apply_router(plan: RouterPlan, registry: BridgeRegistry) -> None:
    """Make the router exist as planned. The rules are loaded before the external port
    takes new floating addresses, so no address is answered before it is NATed."""
    namespace = router_namespace(plan.router_id)
    ensure_namespace(namespace)
    set_in_namespace(namespace, ROUTER_SYSCTLS)
    wanted = {port_key(plan.external.port_id), port_key(plan.internal.port_id)}
    for key in plugged_port_prefixes(namespace) - wanted:
        unplug(namespace, key)
    plug(namespace, plan.internal, registry)
    nftables.load(namespace, plan.rules)  # the table replaced in one transaction
    plug(namespace, plan.external, registry)


def delete_router(router_id: str, registry: BridgeRegistry) -> None:
    """Remove the router's ports and namespace (its rules go with it); idempotent."""
    namespace = router_namespace(router_id)
    for key in plugged_port_prefixes(namespace):
        unplug(namespace, key)
    delete_namespace(namespace)
    prune_bridges(registry)


def router_present(router_id: str) -> bool:
    return namespace_exists(router_namespace(router_id))


def router_namespaces() -> list[str]:
    return list_namespaces(ROUTER_PREFIX)
