"""Octavia's availability zones and their profiles (what a zone means to a provider)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from nslb.model.resources import new_id, utcnow


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
