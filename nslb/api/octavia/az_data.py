"""What an availability zone profile may say to the amphora provider.

Octavia's amphora provider schema (draft-07, `additionalProperties: false`), checked with the
flavor profile's three steps and answers (nslb/api/octavia/flavor_data.py): not JSON -> 400,
provider not enabled -> 400, outside the schema -> 501 in jsonschema's words.

`compute_zone` is the compute availability zone (an aggregate's `availability_zone`,
/compute/v2.1/os-aggregates) the LB's amphorae go to; `valid_vip_networks` the networks a
VIP may be on. Octavia's `management_network` means nothing to a namespace amphora (no
management network), so it is refused (501) rather than accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from nslb.api.octavia import flavor_data
from nslb.api.octavia.flavor_data import Option
from nslb.model.placement import COMPUTE_ZONE, VALID_VIP_NETWORKS

FIELD = "availability_zone_data"

OPTIONS: dict[str, Option] = {
    COMPUTE_ZONE: Option("string", "The compute availability zone."),
    VALID_VIP_NETWORKS: Option(
        "array", "List of network IDs that are allowed for VIP use. This overrides/replaces "
                 "the list of allowed networks configured in `octavia.conf`."),
}


def capabilities() -> dict[str, str]:
    return flavor_data.capabilities(OPTIONS)


def check(provider: str, data: str, enabled: dict[str, str]) -> dict[str, Any]:
    """The profile's metadata as a dict, after Octavia's three checks."""
    return flavor_data.check(provider, data, enabled, OPTIONS, FIELD)


def compute_zone(metadata: dict[str, Any]) -> str | None:
    zone = metadata.get(COMPUTE_ZONE)
    return zone if isinstance(zone, str) else None


def vip_network_allowed(metadata: dict[str, Any], network_id: str) -> bool:
    """Octavia's network_allowed_by_config with the zone's list: an empty or absent list
    allows every network."""
    allowed = metadata.get(VALID_VIP_NETWORKS) or []
    return not allowed or network_id.lower() in {str(n).lower() for n in allowed}
