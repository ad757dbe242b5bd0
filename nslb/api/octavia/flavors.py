"""`/v2/lbaas/flavors`: named choices an operator offers for load balancer create.

Shapes, policies and errors follow Octavia's FlavorsController: everyone with the read
role lists and shows every flavor (a disabled one too: "still visible to users, but they
will not be able to create a load balancer using the flavor"); admins create, update and
delete. `flavor_profile_id` is fixed at create. A flavor that a load balancer uses cannot be
deleted (409). Flavors belong to no project.

`for_load_balancer` is what LB create asks: which flavor, provider and topology apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api import listing
from nslb.api.faults import BadRequest, Conflict, NotFound, ValidationFailure
from nslb.api.http import base_url, parse, read_root, respond, shown
from nslb.api.octavia import flavor_data
from nslb.api.octavia.common import apply_changes, db
from nslb.api.octavia.providers import PROVIDERS
from nslb.api.octavia.schemas import Body, Name
from nslb.db import flavors as repo
from nslb.db.query import QueryError, run_list, short
from nslb.model import grammar
from nslb.model.resources import Flavor


def _uuid(value: str) -> str:
    if not grammar.UUID_INPUT.fullmatch(value):
        raise ValueError("Value should be UUID format")
    return value


class FlavorCreate(Body):
    name: Name
    description: Name | None = None
    enabled: bool = True
    flavor_profile_id: Annotated[str, AfterValidator(_uuid)]


class FlavorUpdate(Body):
    name: Name | None = None
    description: Name | None = None
    enabled: bool | None = None


def view(flavor: Flavor) -> dict[str, Any]:
    return {"id": flavor.id, "name": flavor.name, "description": flavor.description,
            "enabled": flavor.enabled, "flavor_profile_id": flavor.flavor_profile_id}


def list_global(request: Request, cls: type, collection: str, links_key: str,
                render: Callable[[Any], dict[str, Any]], key: str = "id") -> Response:
    """Filter, sort, paginate and wrap a collection that belongs to no project (flavors
    and profiles): the same parameters as every Octavia list, no project scope."""
    q = listing.parse_list(request)
    with db(request).read() as session:
        try:
            rows = run_list(session, cls, q)
        except QueryError as exc:
            raise BadRequest(str(exc)) from None
        items = [render(row) for row in rows]
    fields = listing.fields_of(request)
    return respond({
        collection: [listing.select_fields(item, fields) for item in items],
        links_key: listing.page_links(request, q, [{"id": i[key]} for i in items],
                                      base_url(request)),
    })


def _find(session: Session, ident: str, *, lock: bool = False) -> Flavor:
    flavor = repo.get(session, ident, lock=lock)
    if flavor is None:
        raise NotFound(f"Flavor {short(ident)} not found.")
    return flavor


def _duplicate(name: str) -> Conflict:
    return Conflict(f"A flavor of {shown(name)} already exists.")


async def list_all(request: Request) -> Response:
    return list_global(request, Flavor, "flavors", "flavors_links", view)


async def show(request: Request) -> Response:
    with db(request).read() as session:
        item = view(_find(session, request.path_params["id"]))
    return respond({"flavor": listing.select_fields(item, listing.fields_of(request))})


async def create(request: Request) -> Response:
    data = parse(FlavorCreate, await read_root(request, "flavor"), "flavor")
    flavor = Flavor(name=data.name, description=data.description or "", enabled=data.enabled)
    try:
        with db(request).write() as session:
            # Shared lock: a concurrent delete of the profile waits for this flavor.
            profile = repo.profile(session, data.flavor_profile_id, shared=True)
            if profile is None:
                raise ValidationFailure("Invalid flavor_profile_id.")
            if repo.name_taken(session, flavor.name):
                raise _duplicate(flavor.name)
            flavor.flavor_profile_id = profile.id
            session.add(flavor)
    except IntegrityError:  # a concurrent create took the name
        raise _duplicate(flavor.name) from None
    return respond({"flavor": view(flavor)}, 201)


async def update(request: Request) -> Response:
    data = parse(FlavorUpdate, await read_root(request, "flavor"), "flavor")
    changes = data.model_dump(exclude_unset=True)
    name = changes.get("name") or ""
    try:
        with db(request).write() as session:
            flavor = _find(session, request.path_params["id"], lock=True)
            if "name" in changes and repo.name_taken(session, name, but=flavor.id):
                raise _duplicate(name)
            apply_changes(flavor, changes)
    except IntegrityError:
        raise _duplicate(name) from None
    return respond({"flavor": view(flavor)})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        remove(session, request.path_params["id"])
    return respond(None, 204)


def remove(session: Session, ident: str) -> None:
    """Delete the flavor unless a load balancer uses it (Octavia's 409). The exclusive
    lock comes first: a load balancer create that read the flavor holds a shared lock, so
    the count below sees that load balancer once its create has committed."""
    flavor = _find(session, ident, lock=True)
    if repo.flavor_in_use(session, flavor.id):
        raise Conflict(f"Flavor {flavor.id} is in use and cannot be modified.")
    session.delete(flavor)


@dataclass(frozen=True)
class Choice:
    """What a new load balancer gets from its flavor (or from the deployment default)."""

    flavor_id: str | None
    provider: str
    topology: str


def for_load_balancer(session: Session, flavor_id: str | None, provider: str | None,
                      default_topology: str) -> Choice:
    """Octavia's LB-create checks of `flavor_id`, in its order: the flavor exists (400),
    is enabled (400), agrees with an explicit provider (400), and its profile still passes
    the provider's schema (501); the profile's `loadbalancer_topology` wins over the
    deployment default. Run inside the create's write transaction: the shared row lock
    keeps the flavor from being deleted before the load balancer row is committed."""
    if flavor_id is None:
        return Choice(None, provider or "amphora", default_topology)
    flavor = repo.get(session, flavor_id, shared=True)
    if flavor is None:
        raise ValidationFailure("Invalid flavor_id.")
    if not flavor.enabled:
        raise BadRequest(f"The selected flavor is not allowed in this deployment: "
                         f"{short(flavor_id)}")
    profile = repo.profile(session, flavor.flavor_profile_id)
    if profile is None:  # the foreign key makes this impossible; never build half a choice
        raise ValidationFailure("Invalid flavor_id.")
    if provider is not None and provider != profile.provider_name:
        raise BadRequest(f"Flavor '{short(flavor_id)}' is not compatible with provider "
                         f"'{short(provider)}'")
    metadata = flavor_data.check(profile.provider_name, profile.flavor_data, PROVIDERS)
    return Choice(flavor.id, profile.provider_name,
                  flavor_data.topology(metadata, default_topology))


def routes() -> list[Route]:
    base = "/lbaas/flavors"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
