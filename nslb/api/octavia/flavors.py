"""`/v2/lbaas/flavors`: named choices an operator offers for load balancer create.

Shapes, policies and errors follow Octavia's FlavorsController: everyone with the read
role lists and shows every flavor (a disabled one too: "still visible to users, but they
will not be able to create a load balancer using the flavor"); admins create, update and
delete. `flavor_profile_id` is fixed at create. A flavor that a load balancer uses cannot be
deleted (409). Flavors belong to no project. The handlers are nslb/api/octavia/offerings.py's,
configured here; availability zones configure the same.

`for_load_balancer` is what LB create asks: which flavor, provider and topology apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy.orm import Session

from nslb.api.faults import BadRequest
from nslb.api.octavia import flavor_data
from nslb.api.octavia.offerings import (
    Collection,
    OfferingCreate,
    OfferingRules,
    Offerings,
    OfferingUpdate,
)
from nslb.api.octavia.providers import PROVIDERS
from nslb.api.octavia.schemas import Name
from nslb.db import flavors as repo
from nslb.db.query import short
from nslb.model import grammar
from nslb.model.resources import Flavor


def uuid_value(value: str) -> str:
    """Octavia's UuidType: the profile id must look like one (else 400)."""
    if not grammar.UUID_INPUT.fullmatch(value):
        raise ValueError("Value should be UUID format")
    return value


UuidInput = Annotated[str, AfterValidator(uuid_value)]


class FlavorCreate(OfferingCreate):
    flavor_profile_id: UuidInput


class FlavorUpdate(OfferingUpdate):
    name: Name | None = None


def view(flavor: Flavor) -> dict[str, Any]:
    return {"id": flavor.id, "name": flavor.name, "description": flavor.description,
            "enabled": flavor.enabled, "flavor_profile_id": flavor.flavor_profile_id}


FLAVORS = Offerings(
    Collection(Flavor, "/lbaas/flavors", "flavor", "flavors", "flavors_links", view),
    OfferingRules("id", "Flavor", "flavor", "flavor_profile_id", repo.get, repo.profile,
                  repo.name_taken, repo.flavor_in_use, FlavorCreate, FlavorUpdate))
routes = FLAVORS.routes
remove = FLAVORS.remove


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
    flavor, profile = FLAVORS.chosen(session, flavor_id, "Invalid flavor_id.", "flavor")
    if provider is not None and provider != profile.provider_name:
        raise BadRequest(f"Flavor '{short(flavor_id)}' is not compatible with provider "
                         f"'{short(provider)}'")
    metadata = flavor_data.check(profile.provider_name, profile.flavor_data, PROVIDERS)
    return Choice(flavor.id, profile.provider_name,
                  flavor_data.topology(metadata, default_topology))
