"""`/v2/lbaas/availabilityzones`: named zones users pick on LB create.

Octavia's AvailabilityZonesController: keyed by name; everyone with the read role lists
and shows them, admins create, update (description, enabled) and delete; a zone a load
balancer uses cannot be deleted (409). `for_load_balancer` is LB create's check: unknown
zone 400 `Validation failure: Invalid availability zone.`, disabled 400 `The selected
availability_zone is not allowed in this deployment: <name>`, and the VIP network must be
one the zone's profile allows (`valid_vip_networks`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nslb.api.faults import ValidationFailure
from nslb.api.octavia import az_data
from nslb.api.octavia.flavors import UuidInput
from nslb.api.octavia.offerings import (
    Collection,
    OfferingCreate,
    OfferingRules,
    Offerings,
    OfferingUpdate,
)
from nslb.api.octavia.providers import PROVIDERS
from nslb.db import zones as repo
from nslb.model.placement import AvailabilityZone

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class ZoneCreate(OfferingCreate):
    availability_zone_profile_id: UuidInput


def view(zone: AvailabilityZone) -> dict[str, Any]:
    return {"name": zone.name, "description": zone.description, "enabled": zone.enabled,
            "availability_zone_profile_id": zone.availability_zone_profile_id}


def _get(session: Session, name: str, *, lock: bool = False,
         shared: bool = False) -> AvailabilityZone | None:
    """Octavia answers the nil UUID's zone with a 404 whatever is stored."""
    return None if name == NIL_UUID else repo.get(session, name, lock=lock, shared=shared)


def _name_taken(session: Session, name: str, but: str | None) -> bool:
    return name != but and repo.get(session, name) is not None


ZONES = Offerings(
    Collection(AvailabilityZone, "/lbaas/availabilityzones", "availability_zone",
               "availability_zones", "availability_zones_links", view),
    OfferingRules("name", "Availability Zone", "availability zone",
                  "availability_zone_profile_id", _get, repo.profile, _name_taken,
                  repo.zone_in_use, ZoneCreate, OfferingUpdate))
routes = ZONES.routes


def for_load_balancer(session: Session, name: str | None) -> dict[str, Any]:
    """The zone's profile metadata for LB create (empty without a zone), after Octavia's
    checks. Run inside the create's write transaction: the shared lock keeps the zone
    from being deleted before the load balancer row is committed."""
    if name is None:
        return {}
    _, profile = ZONES.chosen(session, name, "Invalid availability zone.",
                              "availability_zone")
    return az_data.check(profile.provider_name, profile.availability_zone_data, PROVIDERS)


def check_vip_network(metadata: dict[str, Any], network_id: str) -> None:
    if not az_data.vip_network_allowed(metadata, network_id):
        raise ValidationFailure("Supplied VIP network_id is not allowed by the "
                                "configuration of this deployment.")
