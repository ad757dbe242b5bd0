"""How many ports nslb plugs into the host bridge behind a network, counted in the registry.

A Linux bridge numbers its ports 1..1023, so one bridge holds at most 1,023 veths. Every
flat network of a physical network shares that physnet's bridge; a VLAN network gets a
bridge per segment on this host's kernel (no VLAN filtering: nslb.netns.ports). The
namespace driver refuses the 1,024th port before it makes anything (netns/bridges.py),
but at that point the API has answered 201 and the load balancer can only go to ERROR.
Counting the registry's ports lets the API refuse the create itself, with a 409 that says
why, as Neutron answers an exhausted subnet. The count is of rows, not of the host: a
pair's VIP port row (never plugged: keepalived moves the address) counts too, so a bridge
is called full a little early rather than late, and ports nslb did not make (the
operator's uplink) are left to the driver's own check.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nslb.db.floating import ROUTER_INTERFACE_OWNER
from nslb.db.lb_ports import MEMBER_OWNER, VIP_OWNER, VRRP_OWNER
from nslb.db.tables import network as network_table
from nslb.db.tables import port as port_table
from nslb.model.resources import Network

# BR_MAX_PORTS - 1 (port 0 is the bridge itself); netns/bridges.py has the same figure for
# the host's own check (a unit test keeps the two equal).
MAX_BRIDGE_PORTS = 1023
# Owners of the ports nslb plugs as a veth on the network's bridge.
PLUGGED_OWNERS = (VIP_OWNER, MEMBER_OWNER, VRRP_OWNER, ROUTER_INTERFACE_OWNER)


def plugged_ports(session: Session, network: Network) -> int:
    """Ports nslb plugs into the bridge `network` is on: those of every flat network of its
    physical network, or of its own VLAN segment or VXLAN network."""
    sharing = select(network_table.c.id).where(
        network_table.c.physical_network == network.physical_network)
    if network.network_type in ("vlan", "vxlan"):  # a bridge per segment (per VNI)
        sharing = sharing.where(network_table.c.network_type == network.network_type,
                                network_table.c.segmentation_id == network.segmentation_id)
    else:
        sharing = sharing.where(network_table.c.network_type == network.network_type)
    stmt = (select(func.count()).select_from(port_table)
            .where(port_table.c.network_id.in_(sharing),
                   port_table.c.device_owner.in_(PLUGGED_OWNERS)))
    return int(session.scalar(stmt) or 0)


def overflow(session: Session, network: Network) -> str | None:
    """Called once this transaction's new ports on `network` were flushed: why its bridge
    cannot take them, or None while it can."""
    plugged = plugged_ports(session, network)
    if plugged <= MAX_BRIDGE_PORTS:
        return None
    if network.network_type == "vxlan":
        where = f"VXLAN network {network.segmentation_id}"
    elif network.network_type == "vlan":
        where = (f"VLAN segment {network.segmentation_id} of physical network "
                 f"{network.physical_network}")
    else:
        where = f"physical network {network.physical_network}"
    return (f"No room on network {network.id}: the host bridge of {where} holds at most "
            f"{MAX_BRIDGE_PORTS} load balancer ports and all are in use. Use a network on "
            f"another physical network, or a VLAN network.")
