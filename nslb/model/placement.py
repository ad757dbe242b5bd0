"""Octavia's availability zones and their profiles (what a zone means to a provider)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from nslb.model.resources import new_id, utcnow

# The profile keys placement reads (az_data.py and flavor_data.py in nslb/api/octavia
# check them on the way in).
COMPUTE_ZONE = "compute_zone"
VALID_VIP_NETWORKS = "valid_vip_networks"
COMPUTE_FLAVOR = "compute_flavor"


def profile_string(data: str, key: str) -> str | None:
    """One string key of a stored (already checked) profile's JSON text."""
    value = json.loads(data).get(key) if data else None
    return value if isinstance(value, str) else None


@dataclass(kw_only=True, eq=False)
class AvailabilityZoneProfile:
    """`availability_zone_data` is the operator's JSON text, kept verbatim (Octavia
    returns it as a string), checked against the provider's schema on every change."""

    id: str = field(default_factory=new_id)
    name: str = ""
    provider_name: str = ""
    availability_zone_data: str = "{}"
    created_at: datetime = field(default_factory=utcnow)


@dataclass(kw_only=True, eq=False)
class AvailabilityZone:
    """A named zone users pick on LB create; global, keyed by name."""

    name: str = ""
    description: str = ""
    enabled: bool = True
    availability_zone_profile_id: str = ""
    created_at: datetime = field(default_factory=utcnow)
