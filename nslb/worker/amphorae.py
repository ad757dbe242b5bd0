"""What an amphora needs in the registry before it can be rendered: its row, and for an
ACTIVE_STANDBY pair a VRRP router id, its own port on the VIP network (`vrrp_ip`) and its
own port on each member network. Run by the worker in a write transaction before it
builds the snapshot; every step is idempotent, so a crash anywhere is repaired by the next
attempt. What is allocated here is released with the amphora or its load balancer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from nslb.db import amphorae, ports
from nslb.db.lb_ports import (
    MEMBER_OWNER,
    VRRP_OWNER,
    member_port_name,
    ports_of_device,
    vrrp_port_name,
)
from nslb.db.tree import load_tree
from nslb.model.enums import AmphoraRole, AmphoraStatus
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import VRRP_PRIORITY, Amphora, LoadBalancer, Member
from nslb.netns.names import ns_ifname


def in_pair(amphora: Amphora) -> bool:
    return amphora.role in VRRP_PRIORITY


def prepare(session: Session, lb: LoadBalancer) -> list[Amphora]:
    """The LB's live amphorae with everything they need allocated."""
    found = amphorae.of_lb(session, lb.id)
    if not found:  # rows made some other way than the API: a SINGLE LB's one amphora
        found = [Amphora(loadbalancer_id=lb.id, role=AmphoraRole.STANDALONE,
                         status=AmphoraStatus.PENDING_CREATE, ha_ip=lb.vip_address,
                         ha_port_id=lb.vip_port_id)]
        session.add(found[0])
        session.flush()
    pair = [a for a in found if in_pair(a)]
    if pair:
        subnet = ports.get_subnet(session, lb.vip_subnet_id)
        network = ports.get_network(session, lb.vip_network_id)
        if subnet is None or network is None:
            raise LookupError(f"the VIP subnet of load balancer {lb.id} no longer exists")
        vrid = amphorae.allocate_vrid(session, network.id, lb.id)
        subnets = member_subnets(session, lb)
        for amphora in pair:
            amphora.vrrp_id = vrid
            _vrrp_port(session, lb, amphora, network, subnet)
            for member_subnet in subnets:
                _member_port(session, lb, amphora, member_subnet)
    return found


def member_subnets(session: Session, lb: LoadBalancer,
                   members: list[Member] | None = None) -> list[str]:
    """Member subnets other than the VIP's, of members that are not being deleted
    (`members`: the LB's, when the caller has just read them)."""
    if members is None:
        members = load_tree(session, lb).members
    live: list[Member] = [m for m in members
                          if m.provisioning_status not in (P.PENDING_DELETE, P.DELETED)]
    return sorted({m.subnet_id for m in live if m.subnet_id and m.subnet_id != lb.vip_subnet_id})


def _vrrp_port(session: Session, lb: LoadBalancer, amphora: Amphora, network: object,
               subnet: object) -> None:
    if amphora.vrrp_port_id and ports.get_port(session, amphora.vrrp_port_id) is not None:
        return
    port = ports.allocate_port(session, network=network, subnet=subnet,  # type: ignore[arg-type]
                               ip_address=None, project_id=lb.project_id,
                               device_owner=VRRP_OWNER, device_id=amphora.id,
                               name=vrrp_port_name(amphora.id))
    amphora.vrrp_port_id = port.id
    amphora.vrrp_ip = port.fixed_ips[0]["ip_address"]
    amphora.vrrp_interface = ns_ifname(port.id)


def _member_port(session: Session, lb: LoadBalancer, amphora: Amphora, subnet_id: str) -> None:
    mine = ports.member_ports(session, amphora.id, lb.project_id)
    if any(p.fixed_ips[0]["subnet_id"] == subnet_id for p in mine):
        return
    subnet = ports.get_subnet(session, subnet_id)
    network = ports.get_network(session, subnet.network_id) if subnet else None
    if subnet is None or network is None:
        raise LookupError(f"member subnet {subnet_id} no longer exists")
    ports.allocate_port(session, network=network, subnet=subnet, ip_address=None,
                        project_id=lb.project_id, device_owner=MEMBER_OWNER,
                        device_id=amphora.id, name=member_port_name(amphora.id))


def release_unused_member_ports(session: Session, lb: LoadBalancer,
                                members: list[Member] | None = None) -> None:
    """A pair amphora's member port whose subnet no member uses any more (`members`: the
    LB's, when the caller has just read them)."""
    used = set(member_subnets(session, lb, members))
    for amphora in amphorae.of_lb(session, lb.id):
        for port in ports.member_ports(session, amphora.id, lb.project_id):
            if port.fixed_ips[0]["subnet_id"] not in used:
                ports.release_port(session, port.id)


def release(session: Session, amphora: Amphora) -> None:
    """Every port nslb made for this amphora."""
    for owner in (VRRP_OWNER, MEMBER_OWNER):
        for port in ports_of_device(session, amphora.id, owner):
            ports.release_port(session, port.id)
