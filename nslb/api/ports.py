"""/v2.0/ports: read every port, and let users reserve an address (POST) and release it
(DELETE). Ports nslb made for its load balancers are released by nslb, never by hand."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api import neutron
from nslb.api.faults import Conflict
from nslb.api.http import context, parse, read_root, respond
from nslb.db import ports as repo
from nslb.db.lb_ports import VIP_OWNER
from nslb.model import ipam
from nslb.model.resources import Network, Port, Subnet

CREATABLE = {"network_id", "name", "description", "admin_state_up", "fixed_ips",
             "device_owner", "device_id", "tags", "project_id", "tenant_id"}
CONSTANTS = {"binding:vnic_type": "normal"}
NSLB_OWNERS = (VIP_OWNER, "nslb:")  # ports nslb made: VIPs and member plugs


class FixedIp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subnet_id: str | None = None
    ip_address: str | None = None


class PortBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network_id: str
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=255)
    admin_state_up: bool = True
    fixed_ips: list[FixedIp] = Field(default_factory=list, max_length=1)
    device_owner: str = Field("", max_length=255)
    device_id: str = Field("", max_length=255)
    tags: list[str] = Field(default_factory=list)


def to_wire(port: Port) -> dict[str, Any]:
    return {
        **neutron.standard_attrs(port),
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "fixed_ips": [dict(f) for f in port.fixed_ips],
        "device_owner": port.device_owner,
        "device_id": port.device_id,
        "security_groups": [],
        "allowed_address_pairs": [],
        "binding:vnic_type": "normal",
    }


def wire_many(_session: Session, ports: list[Port]) -> list[dict[str, Any]]:
    return [to_wire(p) for p in ports]


COLLECTION = neutron.Collection(Port, "port", "ports", wire_many, constants=CONSTANTS)


def _subnet(session: Session, fixed: FixedIp | None) -> Subnet | None:
    if fixed is None or fixed.subnet_id is None:
        return None
    sub = repo.get_subnet(session, fixed.subnet_id)
    if sub is None:
        raise neutron.not_found("Subnet", fixed.subnet_id)
    return sub


async def create(request: Request) -> Response:
    raw = await read_root(request, "port")
    neutron.check_attributes(raw, CREATABLE)
    body = parse(PortBody, raw, "port")
    ctx = context(request)
    project = neutron.project_for(ctx, raw)
    fixed = body.fixed_ips[0] if body.fixed_ips else None
    with request.app.state.db.write() as session:
        network: Network = neutron.find(session, Network, body.network_id, ctx, "Network")
        try:
            port = repo.allocate_port(
                session, network=network, subnet=_subnet(session, fixed),
                ip_address=fixed.ip_address if fixed else None, project_id=project,
                device_owner=body.device_owner, device_id=body.device_id, name=body.name)
        except ipam.IpamError as exc:
            raise neutron.ipam_fault(exc) from None
        port.description, port.admin_state_up = body.description, body.admin_state_up
        port.tags = body.tags
        session.flush()
        item = to_wire(port)
    return respond({"port": item}, 201)


index = neutron.index_endpoint(COLLECTION)


def _load(session: Session, request: Request) -> Port:
    port: Port = neutron.find(session, Port, request.path_params["port_id"],
                              context(request), "Port")
    return port


async def get(request: Request) -> Response:
    with request.app.state.db.read() as session:
        item = to_wire(_load(session, request))
    return respond(neutron.show(request, item, "port"))


async def delete(request: Request) -> Response:
    with request.app.state.db.write() as session:
        port = _load(session, request)
        if port.device_owner.startswith(NSLB_OWNERS):
            raise Conflict(f"Port {port.id} belongs to {port.device_owner} {port.device_id} "
                           f"and is released with it.")
        repo.release_port(session, port.id)
    return respond(None, 204)
