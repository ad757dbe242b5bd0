"""/v2.0/subnets: address ranges on a network, validated by nslb.model.ipam.

nslb runs no DHCP server and no router; enable_dhcp and host_routes are recorded for
clients and for the addresses nslb configures on its own ports.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api import neutron
from nslb.api.faults import BadRequest
from nslb.api.http import context, parse, read_root, respond
from nslb.db import networks as repo
from nslb.model import ipam
from nslb.model.resources import Network, Subnet, utcnow

UNSUPPORTED_NULLS = {"ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "segment_id"}
UPDATABLE = {"name", "description", "gateway_ip", "allocation_pools", "host_routes",
             "dns_nameservers", "enable_dhcp", "tags"}
CREATABLE = UPDATABLE | UNSUPPORTED_NULLS | {"network_id", "ip_version", "cidr",
                                             "project_id", "tenant_id"}
CONSTANTS = {key: None for key in UNSUPPORTED_NULLS}


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: str
    nexthop: str


class PoolRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str


class SubnetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network_id: str = ""
    ip_version: Literal[4, 6] | None = None
    cidr: str | None = None
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=255)
    gateway_ip: str | None = None
    allocation_pools: list[PoolRange] | None = None
    host_routes: list[Route] = Field(default_factory=list)
    dns_nameservers: list[str] = Field(default_factory=list)
    enable_dhcp: bool = True
    tags: list[str] = Field(default_factory=list)


def to_wire(sub: Subnet) -> dict[str, Any]:
    return {
        **neutron.standard_attrs(sub),
        "network_id": sub.network_id,
        "ip_version": sub.ip_version,
        "cidr": sub.cidr,
        "gateway_ip": sub.gateway_ip,
        "allocation_pools": list(sub.allocation_pools),
        "host_routes": list(sub.host_routes),
        "dns_nameservers": list(sub.dns_nameservers),
        "enable_dhcp": sub.enable_dhcp,
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "subnetpool_id": None,
        "segment_id": None,
        "service_types": [],
    }


def wire_many(_session: Session, subs: list[Subnet]) -> list[dict[str, Any]]:
    return [to_wire(s) for s in subs]


COLLECTION = neutron.Collection(Subnet, "subnet", "subnets", wire_many, constants=CONSTANTS)


def _check_nulls(raw: dict[str, Any]) -> None:
    for key in sorted(UNSUPPORTED_NULLS):
        if raw.get(key) is not None:
            raise BadRequest(f"Invalid input for operation: {key} is not supported by nslb.")


def _check_extras(body: SubnetBody) -> None:
    """dns_nameservers are addresses without duplicates; host routes are cidr + address."""
    for server in body.dns_nameservers:
        ipam.parse_address(server)
    if len(set(body.dns_nameservers)) != len(body.dns_nameservers):
        raise BadRequest("Duplicate nameserver in the dns_nameservers list.")
    for route in body.host_routes:
        try:
            ipaddress.ip_network(route.destination)
            ipaddress.ip_address(route.nexthop)
        except ValueError:
            raise BadRequest(f"Invalid input for operation: invalid host route "
                             f"{route.model_dump()}.") from None


def _plan(raw: dict[str, Any], body: SubnetBody, cidr: str | None, ip_version: int | None,
          current: Subnet | None = None) -> ipam.SubnetPlan:
    """Validate with ipam; on update, absent keys keep the subnet's current values."""
    if not cidr:
        raise BadRequest("Bad subnets request: a subnetpool must be specified in the absence "
                         "of a cidr.")
    gateway: str | None | Any = body.gateway_ip if "gateway_ip" in raw else (
        current.gateway_ip if current else ipam.Default.AUTO)
    pools = ([p.model_dump() for p in body.allocation_pools]
             if body.allocation_pools is not None
             else (current.allocation_pools if current else None))
    try:
        plan = ipam.plan_subnet(cidr, ip_version, gateway, pools)
        _check_extras(body)
    except ipam.IpamError as exc:
        raise neutron.ipam_fault(exc) from None
    return plan


def _check_overlap(session: Session, plan: ipam.SubnetPlan, network_id: str) -> None:
    other = ipam.overlaps(plan.cidr, repo.subnet_cidrs(session, network_id))
    if other:
        raise BadRequest(f"Invalid input for operation: Requested subnet with cidr: "
                         f"{plan.cidr} for network: {network_id} overlaps with another "
                         f"subnet.")


async def create(request: Request) -> Response:
    raw = await read_root(request, "subnet")
    neutron.check_attributes(raw, CREATABLE)
    _check_nulls(raw)
    body = parse(SubnetBody, raw, "subnet")
    ctx = context(request)
    project = neutron.project_for(ctx, raw)
    if not body.network_id:
        raise BadRequest("Invalid input for network_id. Reason: 'None' is not a valid UUID.")
    plan = _plan(raw, body, body.cidr, body.ip_version)
    with request.app.state.db.write() as session:
        network = neutron.find(session, Network, body.network_id, ctx, "Network")
        neutron.check_owner(ctx, network.project_id, "create_subnet")
        _check_overlap(session, plan, body.network_id)
        sub = Subnet(project_id=project, network_id=body.network_id, name=body.name,
                     description=body.description, ip_version=plan.ip_version,
                     cidr=plan.cidr, gateway_ip=plan.gateway_ip,
                     allocation_pools=plan.allocation_pools,
                     host_routes=[r.model_dump() for r in body.host_routes],
                     dns_nameservers=body.dns_nameservers, enable_dhcp=body.enable_dhcp,
                     tags=body.tags)
        session.add(sub)
        session.flush()
        item = to_wire(sub)
    return respond({"subnet": item}, 201)


index = neutron.index_endpoint(COLLECTION)


def _load(session: Session, request: Request) -> Subnet:
    sub: Subnet = neutron.find(session, Subnet, request.path_params["subnet_id"],
                               context(request), "Subnet")
    return sub


def _load_owned(session: Session, request: Request, action: str) -> Subnet:
    """A subnet to change: the subnet's or its network's owner, or an admin (403 for
    the other projects that see it through a shared network)."""
    sub = _load(session, request)
    ctx = context(request)
    network = session.get(Network, sub.network_id)
    if network is None or network.project_id != ctx.project_id:
        neutron.check_owner(ctx, sub.project_id, action)
    return sub


async def get(request: Request) -> Response:
    with request.app.state.db.read() as session:
        item = to_wire(_load(session, request))
    return respond(neutron.show(request, item, "subnet"))


async def update(request: Request) -> Response:
    raw = await read_root(request, "subnet")
    neutron.check_attributes(raw, CREATABLE)
    neutron.check_read_only(raw, UPDATABLE)
    body = parse(SubnetBody, raw, "subnet")
    with request.app.state.db.write() as session:
        sub = _load_owned(session, request, "update_subnet")
        plan = _plan(raw, body, sub.cidr, sub.ip_version, current=sub)
        sub.gateway_ip, sub.allocation_pools = plan.gateway_ip, plan.allocation_pools
        for key in ("name", "description", "dns_nameservers", "enable_dhcp", "tags"):
            if key in raw:
                setattr(sub, key, getattr(body, key))
        if "host_routes" in raw:
            sub.host_routes = [r.model_dump() for r in body.host_routes]
        sub.updated_at = utcnow()
        session.flush()
        item = to_wire(sub)
    request.app.state.kick()
    return respond({"subnet": item})


async def delete(request: Request) -> Response:
    with request.app.state.db.write() as session:
        sub = _load_owned(session, request, "delete_subnet")
        if repo.subnet_in_use(session, sub.id):
            raise neutron.conflict(f"Unable to complete operation on subnet {sub.id}: One or "
                                   f"more ports have an IP allocation from this subnet.",
                                   "SubnetInUse")
        session.delete(sub)
    request.app.state.kick()
    return respond(None, 204)
