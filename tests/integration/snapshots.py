"""Hand-built snapshots for integration tests: one LB, one HTTP listener, one pool."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from nslb.model.resources import (
    HealthMonitor,
    Listener,
    LoadBalancer,
    Member,
    Network,
    Pool,
    Port,
    Subnet,
)
from nslb.model.snapshot import Attachment, LoadBalancerSnapshot

PHYSNET = "physnet1"


def new_id() -> str:
    return str(uuid.uuid4())


def attachment(address: str, cidr: str, network: Network | None = None,
               gateway: str | None = None) -> Attachment:
    network = network or Network(network_type="flat", physical_network=PHYSNET, mtu=1500)
    subnet = Subnet(network_id=network.id, cidr=cidr, gateway_ip=gateway,
                    ip_version=6 if ":" in cidr else 4)
    port = Port(network_id=network.id, fixed_ips=[{"subnet_id": subnet.id,
                                                   "ip_address": address}])
    return Attachment(port=port, subnet=subnet, network=network)


def http_lb(backends: list[tuple[str, dict[str, Any]]], *, vip: str = "10.250.1.10",
            cidr: str = "10.250.1.0/24", network: Network | None = None,
            listener: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
            monitor: dict[str, Any] | None = None, protocol: str = "HTTP") -> LoadBalancerSnapshot:
    """An LB on `vip` with listener :80 -> pool of `backends` (address, member kwargs) on :8080."""
    vip_attachment = attachment(vip, cidr, network)
    lb = LoadBalancer(vip_address=vip, vip_port_id=vip_attachment.port.id,
                      vip_subnet_id=vip_attachment.subnet.id)
    the_pool = Pool(loadbalancer_id=lb.id, protocol=protocol, **(pool or {}))
    the_listener = Listener(loadbalancer_id=lb.id, protocol=protocol, protocol_port=80,
                            default_pool_id=the_pool.id, **(listener or {}))
    members = tuple(Member(pool_id=the_pool.id, loadbalancer_id=lb.id, address=address,
                           protocol_port=8080, name=address, **kw) for address, kw in backends)
    monitors: tuple[HealthMonitor, ...] = ()
    if monitor is not None:
        monitors = (HealthMonitor(pool_id=the_pool.id, loadbalancer_id=lb.id, **monitor),)
    return LoadBalancerSnapshot(lb=lb, vip=vip_attachment, listeners=(the_listener,),
                                pools=(the_pool,), members=members, healthmonitors=monitors,
                                generation=1)


def with_member(snapshot: LoadBalancerSnapshot, index: int, **changes: Any) -> LoadBalancerSnapshot:
    """The same snapshot with member `index` changed (a new generation)."""
    members = list(snapshot.members)
    members[index] = dataclasses.replace(members[index], **changes)
    return dataclasses.replace(snapshot, members=tuple(members),
                               generation=snapshot.generation + 1)


def with_listener(snapshot: LoadBalancerSnapshot, **changes: Any) -> LoadBalancerSnapshot:
    listener = dataclasses.replace(snapshot.listeners[0], **changes)
    return dataclasses.replace(snapshot, listeners=(listener,),
                               generation=snapshot.generation + 1)
