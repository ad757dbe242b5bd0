"""/v2.0/subnets: address ranges on a network, validated by nslb.model.ipam.

nslb runs no DHCP server and no router; enable_dhcp and host_routes are recorded for
clients and for the addresses nslb configures on its own ports.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api.faults import BadRequest
from nslb.api.http import context, parse, read_root, respond
from nslb.api.neutron import common as neutron
from nslb.api.neutron.common import Ident, Tags, Text
from nslb.db import networks as repo
from nslb.db.query import short
from nslb.model import ipam
from nslb.model.resources import Network, Subnet, utcnow

UNSUPPORTED_NULLS = {"ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "segment_id"}
UPDATABLE = {"name", "description", "gateway_ip", "allocation_pools", "host_routes",
             "dns_nameservers", "enable_dhcp", "tags"}
CREATABLE = UPDATABLE | UNSUPPORTED_NULLS | {"network_id", "ip_version", "cidr",
                                             "project_id", "tenant_id"}
CONSTANTS = {key: None for key in UNSUPPORTED_NULLS}
# Neutron's defaults for max_dns_nameservers and max_subnet_host_routes.
MAX_DNS_NAMESERVERS, MAX_HOST_ROUTES = 5, 20
Address = Annotated[str, StringConstraints(max_length=64)]  # parsed by nslb.model.addresses


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: Address
    nexthop: Address


class PoolRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Address
    end: Address


class SubnetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network_id: Ident = ""
    ip_version: Literal[4, 6] | None = None
    cidr: Address | None = None
    name: Text = ""
    description: Text = ""
    gateway_ip: Address | None = None
    allocation_pools: list[PoolRange] | None = Field(None, max_length=256)
    host_routes: list[Route] = Field(default_factory=list)
    dns_nameservers: list[Address] = Field(default_factory=list)
    enable_dhcp: bool = True
    tags: Tags = Field(default_factory=list)


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


def nameservers(body: SubnetBody) -> list[str]:
    """dns_nameservers in canonical spelling (nslb.model.addresses), unique by value."""
    if len(body.dns_nameservers) > MAX_DNS_NAMESERVERS:
        raise neutron.bad_request(
            f"Unable to complete operation for subnet. The number of DNS nameservers exceeds "
            f"the limit {MAX_DNS_NAMESERVERS}.", "DNSNameServersExhausted")
    servers = [str(ipam.parse_address(server)) for server in body.dns_nameservers]
    if len(set(servers)) != len(servers):
        raise BadRequest("Duplicate nameserver in the dns_nameservers list.")
    return servers


def host_routes(body: SubnetBody, ip_version: int) -> list[dict[str, str]]:
    """Host routes as a canonical destination cidr and nexthop address of the subnet's IP
    version: nslb configures them on its own ports, so they pass the strict parser."""
    if len(body.host_routes) > MAX_HOST_ROUTES:
        raise neutron.bad_request(
            f"Unable to complete operation for subnet. The number of host routes exceeds the "
            f"limit {MAX_HOST_ROUTES}.", "HostRoutesExhausted")
    routes = []
    for route in body.host_routes:
        try:
            destination = ipam.parse_cidr(route.destination)
            nexthop = ipam.parse_address(route.nexthop)
        except ipam.IpamError:
            raise _bad_route(route) from None
        if destination.version != ip_version or nexthop.version != ip_version:
            raise _bad_route(route)
        routes.append({"destination": str(destination), "nexthop": str(nexthop)})
    return routes


def _bad_route(route: Route) -> BadRequest:
    return BadRequest(f"Invalid input for operation: invalid host route "
                      f"{short(route.model_dump())}.")


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
        return ipam.plan_subnet(cidr, ip_version, gateway, pools)
    except ipam.IpamError as exc:
        raise neutron.ipam_fault(exc) from None


def _extras(body: SubnetBody, plan: ipam.SubnetPlan) -> tuple[list[str], list[dict[str, str]]]:
    """(dns_nameservers, host_routes) checked and canonical."""
    try:
        return nameservers(body), host_routes(body, plan.ip_version)
    except ipam.IpamError as exc:
        raise neutron.ipam_fault(exc) from None


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
    servers, routes = _extras(body, plan)
    with request.app.state.db.write() as session:
        network = neutron.find(session, Network, body.network_id, ctx, "Network")
        neutron.check_owner(ctx, network.project_id, "create_subnet")
        _check_overlap(session, plan, body.network_id)
        sub = Subnet(project_id=project, network_id=body.network_id, name=body.name,
                     description=body.description, ip_version=plan.ip_version,
                     cidr=plan.cidr, gateway_ip=plan.gateway_ip,
                     allocation_pools=plan.allocation_pools, host_routes=routes,
                     dns_nameservers=servers, enable_dhcp=body.enable_dhcp,
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
        servers, routes = _extras(body, plan)
        sub.gateway_ip, sub.allocation_pools = plan.gateway_ip, plan.allocation_pools
        for key in ("name", "description", "enable_dhcp", "tags"):
            if key in raw:
                setattr(sub, key, getattr(body, key))
        if "dns_nameservers" in raw:
            sub.dns_nameservers = servers
        if "host_routes" in raw:
            sub.host_routes = routes
        sub.updated_at = utcnow()
        session.flush()
        item = to_wire(sub)
    request.app.state.kick(None)
    return respond({"subnet": item})


async def delete(request: Request) -> Response:
    with request.app.state.db.write() as session:
        sub = _load_owned(session, request, "delete_subnet")
        if repo.subnet_in_use(session, sub.id):
            raise neutron.conflict(f"Unable to complete operation on subnet {sub.id}: One or "
                                   f"more ports have an IP allocation from this subnet.",
                                   "SubnetInUse")
        session.delete(sub)
    request.app.state.kick(None)
    return respond(None, 204)
