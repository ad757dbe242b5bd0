"""Names of namespaces and interfaces, derived from ids so they can be found again after a crash.

Interface names are limited to 15 characters (IFNAMSIZ - 1), so they carry a 3-letter role
prefix plus the first 11 hex digits of the port uuid.
"""

from __future__ import annotations

import hashlib

NAMESPACE_PREFIX = "nslb-"
NETNS_DIR = "/run/netns"  # where `ip netns` keeps named namespaces
PORT_KEY_LEN = 11


def namespace_name(lb_id: str) -> str:
    """The network namespace of one load balancer."""
    return f"{NAMESPACE_PREFIX}{lb_id}"


def port_key(port_id: str) -> str:
    """The short, interface-name-safe part of a port id shared by all its interfaces."""
    key = port_id.replace("-", "").lower()[:PORT_KEY_LEN]
    if len(key) < PORT_KEY_LEN or not all(c in "0123456789abcdef" for c in key):
        raise ValueError(f"port id {port_id!r} does not start with {PORT_KEY_LEN} hex digits")
    return key


def host_ifname(port_id: str) -> str:
    """Host (bridge) end of the veth pair of a port."""
    return f"nsh{port_key(port_id)}"


def ns_ifname(port_id: str) -> str:
    """The interface inside the namespace that carries the port's addresses."""
    return f"nsv{port_key(port_id)}"


def vlan_bridge_name(bridge: str, vlan: int) -> str:
    """Bridge that stands for VLAN `vlan` of the physnet bridge `bridge` on kernels without
    bridge VLAN filtering: one plain bridge per segment gives the same L2 isolation on a host.

    A digest of the physnet bridge keeps names of different physnets apart within 15 chars.
    """
    digest = hashlib.sha1(bridge.encode()).hexdigest()[:7]
    return f"nsb{digest}v{vlan}"
