"""The one factory of hand-built snapshots, for every tier.

A snapshot is what the renderer and the drivers consume: an LB, its VIP attachment and its
listeners, pools, members and monitors. The golden cases (tests/unit/render_cases.py) build
theirs with fixed ids, so the rendered text is stable; the driver tests use `http_lb` with
fresh ids, so two LBs of one test never share a namespace. Both go through `attachment`
and `load_balancer`.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from nslb.model.resources import (
    Amphora,
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
               gateway: str | None = None, *, subnet_id: str | None = None,
               port_id: str | None = None) -> Attachment:
    """A port with `address` on subnet `cidr` of `network` (default: a new flat network on
    physnet1); the subnet's and port's ids are fresh unless given."""
    network = network or Network(network_type="flat", physical_network=PHYSNET, mtu=1500)
    fixed: dict[str, Any] = {"id": subnet_id} if subnet_id else {}
    subnet = Subnet(network_id=network.id, cidr=cidr, gateway_ip=gateway,
                    ip_version=6 if ":" in cidr else 4, **fixed)
    port = Port(network_id=network.id, fixed_ips=[{"subnet_id": subnet.id,
                                                   "ip_address": address}],
                **({"id": port_id} if port_id else {}))
    return Attachment(port=port, subnet=subnet, network=network)


def load_balancer(vip: Attachment, *, listeners: tuple[Listener, ...] = (),
                  pools: tuple[Pool, ...] = (), members: tuple[Member, ...] = (),
                  monitors: tuple[HealthMonitor, ...] = (),
                  amphorae: tuple[Amphora, ...] = (), generation: int = 1,
                  **lb: Any) -> LoadBalancerSnapshot:
    """The snapshot of an LB on `vip` (`lb`: LoadBalancer fields, such as a fixed id)."""
    the_lb = LoadBalancer(vip_address=vip.address, vip_port_id=vip.port.id,
                          vip_subnet_id=vip.subnet.id, **lb)
    return LoadBalancerSnapshot(lb=the_lb, vip=vip, listeners=listeners, pools=pools,
                                members=members, healthmonitors=monitors, amphorae=amphorae,
                                generation=generation)


def http_lb(backends: list[tuple[str, dict[str, Any]]], *, vip: str = "10.250.1.10",
            cidr: str = "10.250.1.0/24", network: Network | None = None,
            listener: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
            monitor: dict[str, Any] | None = None, protocol: str = "HTTP") -> LoadBalancerSnapshot:
    """An LB on `vip` with listener :80 -> pool of `backends` (address, member kwargs) on
    :8080, every id fresh."""
    lb_id = new_id()
    the_pool = Pool(loadbalancer_id=lb_id, protocol=protocol, **(pool or {}))
    the_listener = Listener(loadbalancer_id=lb_id, protocol=protocol, protocol_port=80,
                            default_pool_id=the_pool.id, **(listener or {}))
    members = tuple(Member(pool_id=the_pool.id, loadbalancer_id=lb_id, address=address,
                           protocol_port=8080, name=address, **kw) for address, kw in backends)
    monitors: tuple[HealthMonitor, ...] = ()
    if monitor is not None:
        monitors = (HealthMonitor(pool_id=the_pool.id, loadbalancer_id=lb_id, **monitor),)
    return load_balancer(attachment(vip, cidr, network), id=lb_id, listeners=(the_listener,),
                         pools=(the_pool,), members=members, monitors=monitors)


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
