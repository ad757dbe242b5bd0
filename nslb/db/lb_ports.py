"""Ports that belong to a load balancer (its VIP port and its member-network ports)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db.tables import port as port_table
from nslb.model.resources import Port


def ports_of_device(session: Session, device_id: str, device_owner: str) -> list[Port]:
    stmt = (select(Port).where(port_table.c.device_id == device_id,
                               port_table.c.device_owner == device_owner)
            .order_by(port_table.c.created_at, port_table.c.id))
    return list(session.scalars(stmt))
