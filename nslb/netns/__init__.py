"""Network plumbing of load balancer namespaces: the only room that talks netlink (pyroute2).

The amphora driver describes each port it wants as a `PortPlan` and calls `plug()`;
everything here is idempotent so the driver can call it on every reconcile.
"""

from nslb.netns.names import host_ifname, namespace_name, ns_ifname, vlan_bridge_name
from nslb.netns.namespaces import (
    delete_namespace,
    ensure_namespace,
    list_namespaces,
    namespace_exists,
)
from nslb.netns.ports import (
    Announcement,
    PortPlan,
    drop_addresses,
    plug,
    plug_quietly,
    plugged_port_prefixes,
    port_is_healthy,
    unplug,
)

__all__ = [
    "PortPlan",
    "delete_namespace",
    "drop_addresses",
    "ensure_namespace",
    "host_ifname",
    "list_namespaces",
    "namespace_exists",
    "namespace_name",
    "ns_ifname",
    "Announcement",
    "plug",
    "plug_quietly",
    "plugged_port_prefixes",
    "port_is_healthy",
    "unplug",
    "vlan_bridge_name",
]
