"""`/v2/lbaas/availabilityzones`: named zones users pick on LB create.

Octavia's AvailabilityZonesController: keyed by name; everyone with the read role lists
and shows them, admins create, update (description, enabled) and delete; a zone a load
balancer uses cannot be deleted (409). `for_load_balancer` is LB create's check: unknown
zone 400 `Validation failure: Invalid availability zone.`, disabled 400 `The selected
availability_zone is not allowed in this deployment: <name>`, and the VIP network must be
one the zone's profile allows (`valid_vip_networks`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api import listing
from nslb.api.faults import BadRequest, Conflict, NotFound, ValidationFailure
from nslb.api.http import parse, read_root, respond, shown
from nslb.api.octavia import az_data
from nslb.api.octavia.common import apply_changes, db
from nslb.api.octavia.flavors import list_global
from nslb.api.octavia.providers import PROVIDERS
from nslb.api.octavia.schemas import Body, Name
from nslb.db import zones as repo
from nslb.db.query import short
from nslb.model import grammar
from nslb.model.placement import AvailabilityZone

ROOT = "availability_zone"
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def _uuid(value: str) -> str:
    if not grammar.UUID_INPUT.fullmatch(value):
        raise ValueError("Value should be UUID format")
    return value


class ZoneCreate(Body):
    name: Name
    description: Name | None = None
    enabled: bool = True
    availability_zone_profile_id: Annotated[str, AfterValidator(_uuid)]


class ZoneUpdate(Body):
    description: Name | None = None
    enabled: bool | None = None


def view(zone: AvailabilityZone) -> dict[str, Any]:
    return {"name": zone.name, "description": zone.description, "enabled": zone.enabled,
            "availability_zone_profile_id": zone.availability_zone_profile_id}


def _find(session: Session, name: str, *, lock: bool = False) -> AvailabilityZone:
    zone = repo.get(session, name, lock=lock) if name != NIL_UUID else None
    if zone is None:
        raise NotFound(f"Availability Zone {short(name)} not found.")
    return zone


def _duplicate(name: str) -> Conflict:
    return Conflict(f"A availability zone of {shown(name)} already exists.")


async def list_all(request: Request) -> Response:
    return list_global(request, AvailabilityZone, "availability_zones",
                       "availability_zones_links", view, key="name")


async def show(request: Request) -> Response:
    with db(request).read() as session:
        item = view(_find(session, request.path_params["name"]))
    return respond({ROOT: listing.select_fields(item, listing.fields_of(request))})


async def create(request: Request) -> Response:
    data = parse(ZoneCreate, await read_root(request, ROOT), ROOT)
    zone = AvailabilityZone(name=data.name, description=data.description or "",
                            enabled=data.enabled)
    try:
        with db(request).write() as session:
            profile = repo.profile(session, data.availability_zone_profile_id, shared=True)
            if profile is None:
                raise ValidationFailure("Invalid availability_zone_profile_id.")
            if repo.get(session, zone.name) is not None:
                raise _duplicate(zone.name)
            zone.availability_zone_profile_id = profile.id
            session.add(zone)
    except IntegrityError:
        raise _duplicate(zone.name) from None
    return respond({ROOT: view(zone)}, 201)


async def update(request: Request) -> Response:
    data = parse(ZoneUpdate, await read_root(request, ROOT), ROOT)
    changes = data.model_dump(exclude_unset=True)
    with db(request).write() as session:
        zone = _find(session, request.path_params["name"], lock=True)
        apply_changes(zone, changes)
    return respond({ROOT: view(zone)})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        zone = _find(session, request.path_params["name"], lock=True)
        if repo.zone_in_use(session, zone.name):
            raise Conflict(f"Availability Zone {zone.name} is in use and cannot be "
                           "modified.")
        session.delete(zone)
    return respond(None, 204)


def for_load_balancer(session: Session, name: str | None) -> dict[str, Any]:
    """The zone's profile metadata for LB create (empty without a zone), after Octavia's
    checks. Run inside the create's write transaction: the shared lock keeps the zone
    from being deleted before the load balancer row is committed."""
    if name is None:
        return {}
    zone = repo.get(session, name, shared=True)
    if zone is None:
        raise ValidationFailure("Invalid availability zone.")
    if not zone.enabled:
        raise BadRequest(f"The selected availability_zone is not allowed in this "
                         f"deployment: {short(name)}")
    profile = repo.profile(session, zone.availability_zone_profile_id)
    if profile is None:
        raise ValidationFailure("Invalid availability zone.")
    return az_data.check(profile.provider_name, profile.availability_zone_data, PROVIDERS)


def check_vip_network(metadata: dict[str, Any], network_id: str) -> None:
    if not az_data.vip_network_allowed(metadata, network_id):
        raise ValidationFailure("Supplied VIP network_id is not allowed by the "
                                "configuration of this deployment.")


def routes() -> list[Route]:
    base = "/lbaas/availabilityzones"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{name}", show, methods=["GET"]),
        Route(base + "/{name}", update, methods=["PUT"]),
        Route(base + "/{name}", delete, methods=["DELETE"]),
    ]
