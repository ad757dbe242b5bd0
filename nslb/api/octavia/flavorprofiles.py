"""`/v2/lbaas/flavorprofiles`: what each flavor means to its provider (admin only).

Shapes and errors follow Octavia's FlavorProfileController: `flavor_data` travels as a JSON
*string* and is checked against the provider's schema (nslb/api/octavia/flavor_data.py) on create
and whenever it or the provider changes; a profile a flavor uses keeps its provider and
data (409) and cannot be deleted (409); a `compute_flavor` must name a compute flavor
(/compute/v2.1/flavors; Octavia asks Nova, 400 here when there is none); the list's link
key is Octavia's singular `flavorprofile_links`. Reads are admin-only in Octavia's policy too.
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
from nslb.api.octavia import flavor_data
from nslb.api.octavia.common import db
from nslb.api.octavia.flavors import list_global
from nslb.api.octavia.providers import PROVIDERS
from nslb.api.octavia.schemas import Body, Name
from nslb.db import compute
from nslb.db import flavors as repo
from nslb.db.query import short
from nslb.model.resources import FlavorProfile

FlavorData = Annotated[str, StringConstraints(max_length=4096)]
REQUIRED = ("name", "provider_name", "flavor_data")


class ProfileCreate(Body):
    name: Name
    provider_name: Name
    flavor_data: FlavorData


class ProfileUpdate(Body):
    name: Name | None = None
    provider_name: Name | None = None
    flavor_data: FlavorData | None = None


def view(profile: FlavorProfile) -> dict[str, Any]:
    return {"id": profile.id, "name": profile.name, "provider_name": profile.provider_name,
            "flavor_data": profile.flavor_data}


def checked(session: Session, provider: str, data: str) -> dict[str, Any]:
    """The schema check, then the compute flavor's existence (the amphora driver's
    validate_flavor asks the compute service; /compute/v2.1/flavors here), its row held
    shared so that a concurrent compute flavor delete waits and then sees this profile."""
    metadata = flavor_data.check(provider, data, PROVIDERS)
    wanted = flavor_data.compute_flavor(metadata)
    if wanted is not None and compute.flavor(session, wanted, shared=True) is None:
        raise BadRequest(f"Nova flavor {shown(wanted)} not found.")
    return metadata


def _find(session: Session, ident: str, label: str = "Flavor Profile", *,
          lock: bool = False) -> FlavorProfile:
    profile = repo.profile(session, ident, lock=lock)
    if profile is None:
        raise NotFound(f"{label} {short(ident)} not found.")
    return profile


def _in_use(profile_id: str) -> Conflict:
    return Conflict(f"Flavor profile {profile_id} is in use and cannot be modified.")


async def list_all(request: Request) -> Response:
    return list_global(request, FlavorProfile, "flavorprofiles", "flavorprofile_links", view)


async def show(request: Request) -> Response:
    with db(request).read() as session:
        item = view(_find(session, request.path_params["id"]))
    return respond({"flavorprofile": listing.select_fields(item, listing.fields_of(request))})


async def create(request: Request) -> Response:
    data = parse(ProfileCreate, await read_root(request, "flavorprofile"), "flavorprofile")
    profile = FlavorProfile(name=data.name, provider_name=data.provider_name,
                            flavor_data=data.flavor_data)
    with db(request).write() as session:
        checked(session, data.provider_name, data.flavor_data)
        session.add(profile)
    return respond({"flavorprofile": view(profile)}, 201)


async def update(request: Request) -> Response:
    data = parse(ProfileUpdate, await read_root(request, "flavorprofile"), "flavorprofile")
    changes = data.model_dump(exclude_unset=True)
    for key in REQUIRED:
        if key in changes and changes[key] is None:
            raise BadRequest(f"None is not a valid option for {key}")
    with db(request).write() as session:
        # Exclusive lock: a flavor being created from this profile holds a shared one.
        profile = _find(session, request.path_params["id"], lock=True)
        meaning = {k: changes[k] for k in ("provider_name", "flavor_data") if k in changes}
        if meaning and repo.profile_in_use(session, profile.id):
            raise _in_use(profile.id)
        if meaning:
            checked(session, meaning.get("provider_name", profile.provider_name),
                    meaning.get("flavor_data", profile.flavor_data))
        for key, value in changes.items():
            setattr(profile, key, value)
    return respond({"flavorprofile": view(profile)})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        profile = _find(session, request.path_params["id"], "Flavor profile", lock=True)
        if repo.profile_in_use(session, profile.id):
            raise _in_use(profile.id)
        session.delete(profile)
    return respond(None, 204)


def routes() -> list[Route]:
    base = "/lbaas/flavorprofiles"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
