"""`/v2/lbaas/availabilityzoneprofiles`: what each zone means to its provider (admin only).

Octavia's AvailabilityZoneProfileController, as the flavor profiles
(nslb/api/octavia/flavorprofiles.py): `availability_zone_data` travels as a JSON string
checked against the provider's schema (nslb/api/octavia/az_data.py); a `compute_zone` must
be a compute zone an aggregate defines (Octavia asks Nova; 400 when it has none by that
name); a profile a zone uses keeps its provider and data (409) and cannot be deleted (409).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api import listing
from nslb.api.faults import BadRequest, Conflict, NotFound
from nslb.api.http import parse, read_root, respond, shown
from nslb.api.octavia import az_data
from nslb.api.octavia.common import db
from nslb.api.octavia.flavors import list_global
from nslb.api.octavia.providers import PROVIDERS
from nslb.api.octavia.schemas import Body, Name
from nslb.db import zones as repo
from nslb.db.query import short
from nslb.model.placement import AvailabilityZoneProfile

ZoneData = Annotated[str, StringConstraints(max_length=4096)]
REQUIRED = ("name", "provider_name", "availability_zone_data")
ROOT = "availability_zone_profile"


class ProfileCreate(Body):
    name: Name
    provider_name: Name
    availability_zone_data: ZoneData


class ProfileUpdate(Body):
    name: Name | None = None
    provider_name: Name | None = None
    availability_zone_data: ZoneData | None = None


def view(profile: AvailabilityZoneProfile) -> dict[str, Any]:
    return {"id": profile.id, "name": profile.name, "provider_name": profile.provider_name,
            "availability_zone_data": profile.availability_zone_data}


def checked(session: Session, provider: str, data: str) -> dict[str, Any]:
    """The schema check, then the compute zone's existence (the amphora driver's
    validate_availability_zone asks the compute service)."""
    metadata = az_data.check(provider, data, PROVIDERS)
    zone = az_data.compute_zone(metadata)
    if zone is not None and zone not in repo.compute_zones(session):
        raise BadRequest(f"Nova availability zone {shown(zone)} not found.")
    return metadata


def _find(session: Session, ident: str, *, lock: bool = False) -> AvailabilityZoneProfile:
    profile = repo.profile(session, ident, lock=lock)
    if profile is None:
        raise NotFound(f"Availability Zone Profile {short(ident)} not found.")
    return profile


def _in_use(profile_id: str) -> Conflict:
    return Conflict(f"Availability Zone Profile {profile_id} is in use and cannot be "
                    "modified.")


async def list_all(request: Request) -> Response:
    return list_global(request, AvailabilityZoneProfile, "availability_zone_profiles",
                       "availability_zone_profile_links", view)


async def show(request: Request) -> Response:
    with db(request).read() as session:
        item = view(_find(session, request.path_params["id"]))
    return respond({ROOT: listing.select_fields(item, listing.fields_of(request))})


async def create(request: Request) -> Response:
    data = parse(ProfileCreate, await read_root(request, ROOT), ROOT)
    profile = AvailabilityZoneProfile(name=data.name, provider_name=data.provider_name,
                                      availability_zone_data=data.availability_zone_data)
    with db(request).write() as session:
        checked(session, data.provider_name, data.availability_zone_data)
        session.add(profile)
    return respond({ROOT: view(profile)}, 201)


async def update(request: Request) -> Response:
    data = parse(ProfileUpdate, await read_root(request, ROOT), ROOT)
    changes = data.model_dump(exclude_unset=True)
    for key in REQUIRED:
        if key in changes and changes[key] is None:
            raise BadRequest(f"None is not a valid option for {key}")
    with db(request).write() as session:
        profile = _find(session, request.path_params["id"], lock=True)
        meaning = {k: changes[k] for k in ("provider_name", "availability_zone_data")
                   if k in changes}
        if meaning and repo.profile_in_use(session, profile.id):
            raise _in_use(profile.id)
        if meaning:
            checked(session, meaning.get("provider_name", profile.provider_name),
                    meaning.get("availability_zone_data", profile.availability_zone_data))
        for key, value in changes.items():
            setattr(profile, key, value)
    return respond({ROOT: view(profile)})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        profile = _find(session, request.path_params["id"], lock=True)
        if repo.profile_in_use(session, profile.id):
            raise _in_use(profile.id)
        session.delete(profile)
    return respond(None, 204)


def routes() -> list[Route]:
    base = "/lbaas/availabilityzoneprofiles"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
