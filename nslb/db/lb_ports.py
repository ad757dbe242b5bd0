"""Ports that belong to a load balancer (its VIP port and its member-network ports)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db.tables import port as port_table
from nslb.model.resources import Port

# device_owner of the ports nslb makes: Octavia's spelling for VIPs, ours for member plugs.
VIP_OWNER = "Octavia"
MEMBER_OWNER = "nslb:member"
# An ACTIVE_STANDBY amphora's own port on the VIP network (Octavia's "base" port).
VRRP_OWNER = "nslb:vrrp"


def vip_port_name(lb_id: str) -> str:
    """The name of a VIP port nslb created (a port the user brought keeps its own)."""
    return f"octavia-lb-{lb_id}"


def vrrp_port_name(amphora_id: str) -> str:
    return f"nslb-vrrp-{amphora_id}"


def member_port_name(lb_id: str) -> str:
    """The name nslb gives the port it plugs into a member's subnet for `lb_id`."""
    return f"nslb-member-{lb_id}"


def ports_of_device(session: Session, device_id: str, device_owner: str) -> list[Port]:
    stmt = (select(Port).where(port_table.c.device_id == device_id,
                               port_table.c.device_owner == device_owner)
            .order_by(port_table.c.created_at, port_table.c.id))
    return list(session.scalars(stmt))
