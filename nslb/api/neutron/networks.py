"""/v2.0/networks: provider networks on the configured physnets, flat or VLAN, and VXLAN
networks that span hosts (netns/vxlan.py): no physnet, the VNI as
provider:segmentation_id (given, or the lowest free one of --vxlan-vni-range), and an mtu
of at most the underlay's minus the VXLAN overhead (its default), as Neutron's ML2 does.

A network without provider attributes behaves like a Neutron tenant network with
tenant_network_types=vlan: it takes the lowest free VLAN on the first physnet that has one.

`router:external` (admin-only, as in Neutron) makes a network a source of floating IPs; as
in Neutron, every project sees external networks (and may allocate floating IPs from them)
but only their owner (or an admin) changes them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request
from starlette.responses import Response

from nslb.api.context import Context
from nslb.api.faults import BadRequest, Conflict
from nslb.api.http import context, parse, read_root, respond
from nslb.api.listing import fields_of, page_links, parse_list, select_fields
from nslb.api.neutron import common as neutron
from nslb.api.neutron.common import Ident, Tags, Text
from nslb.db import floating
from nslb.db import networks as repo
from nslb.db.ports import visible, visible_clause
from nslb.db.query import MarkerNotFound, QueryError, run_list, short
from nslb.db.tables import network as network_table
from nslb.model.resources import Network, utcnow
from nslb.model.vxlan import VNI_MAX, VNI_MIN, overlay_mtu, parse_range

# A VXLAN network has no physical network; it is stored as "" (shown as null) so that the
# unique key on (physical_network, segmentation_id) also keeps two networks off one VNI.
TUNNEL_PHYSNET = ""

PROVIDER = {"provider:network_type": "network_type",
            "provider:physical_network": "physical_network",
            "provider:segmentation_id": "segmentation_id"}
CONSTANTS = {"port_security_enabled": True}
EXTERNAL = "router:external"
UPDATABLE = {"name", "description", "admin_state_up", "shared", "mtu", "tags",
             *PROVIDER, *CONSTANTS, EXTERNAL}
CREATABLE = UPDATABLE | {"project_id", "tenant_id", "availability_zone_hints"}
ADMIN_ONLY = ("shared", EXTERNAL, *PROVIDER)  # Neutron's default policy
NETWORK_TYPES = ("flat", "vlan", "vxlan")


class NetworkBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: Text = ""
    description: Text = ""
    admin_state_up: bool = True
    shared: bool = False
    mtu: int = Field(1500, ge=1280, le=9000)
    tags: Tags = Field(default_factory=list)
    network_type: Ident | None = Field(None, alias="provider:network_type")
    physical_network: Ident | None = Field(None, alias="provider:physical_network")
    segmentation_id: int | None = Field(None, alias="provider:segmentation_id")  # see _vlan
    router_external: bool = Field(False, alias="router:external")
    port_security_enabled: bool = True
    availability_zone_hints: list[Ident] = Field(default_factory=list)


def to_wire(net: Network, subnet_ids: list[str], external: bool = False) -> dict[str, Any]:
    return {
        **neutron.standard_attrs(net),
        "admin_state_up": net.admin_state_up,
        "status": net.status,
        "subnets": subnet_ids,
        "shared": net.shared,
        "mtu": net.mtu,
        "provider:network_type": net.network_type,
        "provider:physical_network": net.physical_network or None,
        "provider:segmentation_id": net.segmentation_id,
        "router:external": external,
        "port_security_enabled": True,
        "availability_zones": [],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
    }


def wire_many(session: Session, nets: list[Network]) -> list[dict[str, Any]]:
    ids = neutron.ids_of(nets)
    subnets = repo.subnet_ids_by_network(session, ids)
    external = floating.external_of(session, ids)
    return [to_wire(n, subnets.get(n.id, []), n.id in external) for n in nets]


def _check_unsupported(body: NetworkBody) -> None:
    if not body.port_security_enabled:
        raise BadRequest("Invalid input for operation: port security cannot be disabled.")
    if body.availability_zone_hints:
        raise BadRequest("Invalid input for operation: availability zones are not supported.")


def _known_physnet(request: Request, physnet: str, network_type: str) -> str:
    known = sorted(request.app.state.settings.physnets)
    if physnet not in known:
        raise BadRequest(f"Invalid input for operation: physical_network '{short(physnet)}' "
                         f"unknown for {network_type} provider network. Known physical networks: "
                         f"{', '.join(known) or 'none configured'}.")
    return physnet


def _default_physnet(request: Request) -> str:
    known = list(request.app.state.settings.physnets)
    if len(known) != 1:
        raise BadRequest("Invalid input for operation: provider:physical_network is required "
                         f"(known physical networks: {', '.join(sorted(known)) or 'none'}).")
    return known[0]


def _flat(session: Session, physnet: str, segmentation_id: int | None) -> None:
    if segmentation_id is not None:
        raise BadRequest("Invalid input for operation: segmentation_id not allowed for flat "
                         "provider network.")
    if repo.flat_network_on(session, physnet):
        raise neutron.conflict(f"Unable to create the flat network. Physical network "
                               f"{physnet} is in use.", "FlatNetworkInUse")


def _vlan(session: Session, physnet: str, segmentation_id: int | None) -> int:
    if segmentation_id is None:
        free = repo.lowest_free_vlan(session, physnet)
        if free is None:
            raise Conflict("Unable to create the network. No tenant network is available "
                           "for allocation.")
        return free
    if not repo.VLAN_MIN <= segmentation_id <= repo.VLAN_MAX:
        raise BadRequest("Invalid input for operation: segmentation_id out of range "
                         f"({repo.VLAN_MIN} through {repo.VLAN_MAX}).")
    if segmentation_id in repo.used_vlans(session, physnet):
        raise vlan_in_use(segmentation_id, physnet)
    return segmentation_id


def _vxlan(request: Request, session: Session, body: NetworkBody) -> int:
    """Neutron's tunnel type driver: no physical network; the given VNI if free, else the
    lowest free one of the configured range."""
    if body.physical_network:
        raise BadRequest("Invalid input for operation: provider:physical_network specified "
                         "for vxlan network.")
    vni = body.segmentation_id
    if vni is None:
        free = repo.lowest_free_vni(session, vni_range(request))
        if free is None:
            raise Conflict("Unable to create the network. No tenant network is available "
                           "for allocation.")
        return free
    if not VNI_MIN <= vni <= VNI_MAX:
        raise BadRequest("Invalid input for operation: segmentation_id out of range "
                         f"({VNI_MIN} through {VNI_MAX}).")
    if repo.vni_in_use(session, vni):
        raise tunnel_in_use(vni)
    return vni


def vni_range(request: Request) -> tuple[int, int]:
    return parse_range(request.app.state.settings.vxlan_vni_range)


def max_mtu(request: Request, network_type: str) -> int | None:
    """The largest mtu a network of this type can carry (None: no limit known here)."""
    if network_type != "vxlan":
        return None
    return overlay_mtu(request.app.state.settings.underlay_mtu)


def network_mtu(request: Request, raw: dict[str, Any], body: NetworkBody,
                network_type: str) -> int:
    """The mtu asked for, checked against what the network type carries; the largest
    one when none was asked for (Neutron's default)."""
    limit = max_mtu(request, network_type)
    if limit is None:
        return body.mtu
    if "mtu" not in raw:
        return limit
    if body.mtu > limit:
        raise BadRequest(f"Invalid input for operation: Requested MTU is too big, maximum "
                         f"is {limit}.")
    return body.mtu


def tunnel_in_use(vni: int | None) -> Conflict:
    return neutron.conflict(f"Unable to create the network. The tunnel ID {vni} is in use.",
                            "TunnelIdInUse")


def vlan_in_use(vlan: int | None, physnet: str | None) -> Conflict:
    return neutron.conflict(f"Unable to create the network. The VLAN {vlan} on physical "
                            f"network {physnet} is in use.", "VlanIdInUse")


def _tenant_segment(request: Request, session: Session) -> tuple[str, str, int]:
    """Like Neutron's tenant VLAN allocation: lowest free VLAN, physnets in config order."""
    for physnet in request.app.state.settings.physnets:
        vlan = repo.lowest_free_vlan(session, physnet)
        if vlan is not None:
            return "vlan", physnet, vlan
    raise Conflict("Unable to create the network. No tenant network is available for "
                   "allocation.")


def segment(request: Request, session: Session,
            body: NetworkBody) -> tuple[str, str, int | None]:
    """(network_type, physical_network, segmentation_id) after Neutron's ML2 checks."""
    kind = body.network_type
    if kind is None and body.physical_network is None and body.segmentation_id is None:
        return _tenant_segment(request, session)
    kind = kind or "vlan"
    if kind not in NETWORK_TYPES:
        raise BadRequest(f"Invalid input for operation: network_type value '{short(kind)}' not "
                         f"supported.")
    if kind == "vxlan":
        return kind, TUNNEL_PHYSNET, _vxlan(request, session, body)
    physnet = (_known_physnet(request, body.physical_network, kind) if body.physical_network
               else _default_physnet(request))
    if kind == "flat":
        _flat(session, physnet, body.segmentation_id)
        return kind, physnet, None
    return kind, physnet, _vlan(session, physnet, body.segmentation_id)


async def create(request: Request) -> Response:
    raw = await request_body(request, CREATABLE)
    body = parse(NetworkBody, raw, "network")
    _check_unsupported(body)
    ctx = context(request)
    neutron.check_admin_attributes(ctx, raw, "create_network", ADMIN_ONLY)
    project = neutron.project_for(ctx, raw)
    with request.app.state.db.write() as session:
        kind, physnet, vlan = segment(request, session, body)
        mtu = network_mtu(request, raw, body, kind)
        net = Network(project_id=project, name=body.name, description=body.description,
                      admin_state_up=body.admin_state_up, shared=body.shared, mtu=mtu,
                      network_type=kind, physical_network=physnet, segmentation_id=vlan,
                      tags=body.tags)
        session.add(net)
        try:
            session.flush()
        except IntegrityError:
            raise (tunnel_in_use(vlan) if kind == "vxlan"
                   else vlan_in_use(vlan, physnet)) from None
        floating.set_external(session, net.id, body.router_external)
        item = to_wire(net, [], body.router_external)
    request.app.state.kick(None)
    return respond({"network": neutron.for_caller(item, ctx)}, 201)


async def request_body(request: Request, allowed: set[str]) -> dict[str, Any]:
    raw = await read_root(request, "network")
    neutron.check_attributes(raw, allowed)
    return raw


def _visible_clause(ctx: Context) -> ColumnElement[bool]:
    """What a non-admin lists: own and shared networks, and external ones (Neutron's
    get_network policy includes rule:external)."""
    return or_(visible_clause(Network, ctx.project_id),
               network_table.c.id.in_(floating.external_ids()))


def _external_filter(values: list[str]) -> ColumnElement[bool] | None:
    """The `router:external` filter as SQL (None when it keeps every network)."""
    wanted = set()
    for value in values:
        if value.lower() not in ("true", "false", "1", "0"):
            raise BadRequest(f"Invalid filter value '{short(value)}' for router:external")
        wanted.add(value.lower() in ("true", "1"))
    if wanted == {True}:
        return network_table.c.id.in_(floating.external_ids())
    if wanted == {False}:
        return network_table.c.id.not_in(floating.external_ids())
    return None


async def index(request: Request) -> Response:
    """neutron.list_collection, with external networks visible to every project and a
    `router:external` filter (the attribute lives in its own table)."""
    ctx = context(request)
    q = parse_list(request)
    where = [] if ctx.is_admin else [_visible_clause(ctx)]
    external = _external_filter(q.filters.pop(EXTERNAL, []))
    if external is not None:
        where.append(external)
    for key, constant in CONSTANTS.items():
        values = q.filters.pop(key, None)
        if values is not None and str(constant).lower() not in (v.lower() for v in values):
            where.append(network_table.c.id.is_(None))  # matches nothing
    q.filters = {PROVIDER.get(k, k): v for k, v in q.filters.items()}
    q.sort = [(PROVIDER.get(k, k), d) for k, d in q.sort]
    with request.app.state.db.read() as session:
        try:
            rows = run_list(session, Network, q, where=where)
        except MarkerNotFound as exc:
            raise neutron.not_found("Network", exc.marker) from None
        except QueryError as exc:
            raise BadRequest(str(exc)) from None
        items = [neutron.for_caller(i, ctx) for i in wire_many(session, rows)]
    body: dict[str, Any] = {"networks": [select_fields(i, fields_of(request)) for i in items]}
    if "limit" in request.query_params or q.marker:
        base = request.app.state.settings.public_url or \
            f"{request.url.scheme}://{request.url.netloc}"
        body["networks_links"] = page_links(request, q, items, base)
    return respond(body)


def _load(session: Session, request: Request) -> Network:
    """The network if the caller may see it: neutron.find's rule, plus external networks."""
    ident, ctx = request.path_params["network_id"], context(request)
    net = session.get(Network, ident)
    if net is None or not (visible(net, ctx.project_id, ctx.is_admin)
                           or floating.is_external(session, net.id)):
        raise neutron.not_found("Network", ident)
    return net


async def get(request: Request) -> Response:
    with request.app.state.db.read() as session:
        net = _load(session, request)
        item = wire_many(session, [net])[0]
    return respond(neutron.show(request, item, "network"))


def _check_provider_unchanged(net: Network, raw: dict[str, Any]) -> None:
    current = {"provider:network_type": net.network_type,
               "provider:physical_network": net.physical_network or None,
               "provider:segmentation_id": net.segmentation_id}
    changed = [k for k in PROVIDER if k in raw and raw[k] != current[k]]
    if changed:
        raise BadRequest("Invalid input for operation: Plugin does not support updating "
                         f"the following provider network attributes: {', '.join(changed)}.")


async def update(request: Request) -> Response:
    raw = await request_body(request, CREATABLE)
    neutron.check_read_only(raw, UPDATABLE)
    body = parse(NetworkBody, raw, "network")
    _check_unsupported(body)
    ctx = context(request)
    with request.app.state.db.write() as session:
        net = _load(session, request)
        neutron.check_owner(ctx, net.project_id, "update_network")
        neutron.check_admin_attributes(ctx, raw, "update_network", ADMIN_ONLY)
        _check_provider_unchanged(net, raw)
        if "mtu" in raw:
            network_mtu(request, raw, body, net.network_type)
        if EXTERNAL in raw:
            _set_external(session, net, body.router_external)
        for key in ("name", "description", "admin_state_up", "shared", "mtu", "tags"):
            if key in raw:
                setattr(net, key, getattr(body, key))
        net.updated_at = utcnow()
        session.flush()
        item = wire_many(session, [net])[0]
    request.app.state.kick(None)
    return respond({"network": neutron.for_caller(item, context(request))})


def _set_external(session: Session, net: Network, external: bool) -> None:
    """As Neutron: a network with floating IPs cannot stop being external."""
    if not external and floating.floating_ips_on(session, net.id):
        raise neutron.conflict(f"External network {net.id} cannot be updated to be made "
                               f"non-external, since it has existing gateway ports.",
                               "ExternalNetworkInUse")
    floating.set_external(session, net.id, external)


async def delete(request: Request) -> Response:
    with request.app.state.db.write() as session:
        net = _load(session, request)
        neutron.check_owner(context(request), net.project_id, "delete_network")
        if repo.network_has_ports(session, net.id):
            raise neutron.conflict(f"Unable to complete operation on network {net.id}. There "
                                   f"are one or more ports still in use on the network.",
                                   "NetworkInUse")
        floating.set_external(session, net.id, False)
        repo.delete_network(session, net)
    request.app.state.kick(None)
    return respond(None, 204)
