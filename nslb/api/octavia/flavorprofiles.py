"""`/v2/lbaas/flavorprofiles`: what each flavor means to its provider (admin only).

Shapes and errors follow Octavia's FlavorProfileController: `flavor_data` travels as a JSON
*string* and is checked against the provider's schema (nslb/api/octavia/flavor_data.py) on create
and whenever it or the provider changes; a profile a flavor uses keeps its provider and
data (409) and cannot be deleted (409); a `compute_flavor` must name a compute flavor
(/compute/v2.1/flavors; Octavia asks Nova, 400 here when there is none); the list's link
key is Octavia's singular `flavorprofile_links`. Reads are admin-only in Octavia's policy too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nslb.api.faults import BadRequest
from nslb.api.http import shown
from nslb.api.octavia import flavor_data
from nslb.api.octavia.offerings import Collection, ProfileRules, Profiles
from nslb.api.octavia.providers import PROVIDERS
from nslb.db import compute
from nslb.db import flavors as repo
from nslb.model.resources import FlavorProfile


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


PROFILES = Profiles(
    Collection(FlavorProfile, "/lbaas/flavorprofiles", "flavorprofile", "flavorprofiles",
               "flavorprofile_links", view),
    ProfileRules("flavor_data", "Flavor Profile", "Flavor profile", repo.profile,
                 repo.profile_in_use, checked))
routes = PROFILES.routes
