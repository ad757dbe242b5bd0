"""Build the driver's snapshot of one LB from the database.

Only objects being deleted are left out. An object in ERROR stays in: its values passed the
API's validation, and leaving it out would take healthy siblings with it (a pool in ERROR
used to leave its listener with no backend, so every request got a 503).
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from nslb.db import amphorae, ports
from nslb.db.tree import Tree, load_tree
from nslb.db.vxlan_hosts import vxlan_hosts
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import VRRP_PRIORITY, Amphora, LoadBalancer
from nslb.model.snapshot import Attachment, LoadBalancerSnapshot

SKIPPED = frozenset({P.PENDING_DELETE, P.DELETED})


class SnapshotError(RuntimeError):
    """The database does not hold what a snapshot needs (e.g. the VIP port vanished)."""


def _attachment(session: Session, port_id: str, subnet_id: str) -> Attachment:
    port = ports.get_port(session, port_id)
    subnet = ports.get_subnet(session, subnet_id)
    network = ports.get_network(session, subnet.network_id) if subnet else None
    if port is None or subnet is None or network is None:
        raise SnapshotError(f"port {port_id} or subnet {subnet_id} no longer exists")
    return Attachment(port=port, subnet=subnet, network=network)


def build(session: Session, lb: LoadBalancer, tree: Tree | None = None) -> LoadBalancerSnapshot:
    t = tree or load_tree(session, lb)
    live = lambda obj: obj.provisioning_status not in SKIPPED  # noqa: E731
    pools = [p for p in t.pools if live(p)]
    pool_ids = {p.id for p in pools}
    listeners = [li if li.default_pool_id in pool_ids or li.default_pool_id is None
                 else dataclasses.replace(li, default_pool_id=None)
                 for li in t.listeners if live(li)]
    members = [m for m in t.members if live(m) and m.pool_id in pool_ids]
    hms = [h for h in t.healthmonitors if live(h) and h.pool_id in pool_ids]
    listener_ids = {li.id for li in listeners}
    policies = [p for p in t.l7policies if live(p) and p.listener_id in listener_ids
                and (p.redirect_pool_id is None or p.redirect_pool_id in pool_ids)]
    policy_ids = {p.id for p in policies}
    rules = [r for r in t.l7rules if live(r) and r.l7policy_id in policy_ids]
    used_subnets = {m.subnet_id for m in members if m.subnet_id}
    member_ports = []
    for port in ports.member_ports(session, lb.id, lb.project_id):  # nslb's own ports only
        subnet_id = port.fixed_ips[0]["subnet_id"]
        if subnet_id in used_subnets:
            member_ports.append(_attachment(session, port.id, subnet_id))
    live_amphorae = amphorae.of_lb(session, lb.id)
    vip = _attachment(session, lb.vip_port_id, lb.vip_subnet_id)
    own_ports = {a.id: _own_ports(session, lb, a, used_subnets) for a in live_amphorae
                 if a.role in VRRP_PRIORITY and a.vrrp_port_id}
    overlays = {a.network.id for a in (vip, *member_ports, *(x for o in own_ports.values()
                                                              for x in o))
                if a.network.network_type == "vxlan"}
    return LoadBalancerSnapshot(
        lb=lb, vip=vip,
        member_ports=tuple(member_ports), listeners=tuple(listeners), pools=tuple(pools),
        members=tuple(members), healthmonitors=tuple(hms), l7policies=tuple(policies),
        l7rules=tuple(rules), generation=lb.generation,
        amphorae=tuple(live_amphorae),
        amphora_ports=own_ports, vxlan_hosts=vxlan_hosts(session, overlays),
    )


def _own_ports(session: Session, lb: LoadBalancer, amphora: Amphora,
               used_subnets: set[str]) -> tuple[Attachment, ...]:
    """An ACTIVE_STANDBY amphora's VRRP port, then its ports on the members' subnets."""
    assert amphora.vrrp_port_id is not None
    own = [_attachment(session, amphora.vrrp_port_id, lb.vip_subnet_id)]
    for port in ports.member_ports(session, amphora.id, lb.project_id):
        subnet_id = port.fixed_ips[0]["subnet_id"]
        if subnet_id in used_subnets:
            own.append(_attachment(session, port.id, subnet_id))
    return tuple(own)
