"""`/v2/lbaas/availabilityzoneprofiles`: what each zone means to its provider (admin only).

Octavia's AvailabilityZoneProfileController, as the flavor profiles (both configure
nslb/api/octavia/offerings.py): `availability_zone_data` travels as a JSON string checked
against the provider's schema (nslb/api/octavia/az_data.py); a `compute_zone` must be a
compute zone an aggregate defines (Octavia asks Nova; 400 when it has none by that name);
a profile a zone uses keeps its provider and data (409) and cannot be deleted (409).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nslb.api.faults import BadRequest
from nslb.api.http import shown
from nslb.api.octavia import az_data
from nslb.api.octavia.offerings import Collection, ProfileRules, Profiles
from nslb.api.octavia.providers import PROVIDERS
from nslb.db import zones as repo
from nslb.model.placement import AvailabilityZoneProfile


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


PROFILES = Profiles(
    Collection(AvailabilityZoneProfile, "/lbaas/availabilityzoneprofiles",
               "availability_zone_profile", "availability_zone_profiles",
               "availability_zone_profile_links", view),
    ProfileRules("availability_zone_data", "Availability Zone Profile",
                 "Availability Zone Profile", repo.profile, repo.profile_in_use, checked))
routes = PROFILES.routes
