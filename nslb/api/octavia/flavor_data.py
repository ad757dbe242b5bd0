"""What a flavor profile may say to the amphora provider, and the check of what it says.

Octavia checks `flavor_data` in three steps, and nslb keeps their order and answers:
1. it must be JSON (else 400 `<value> is not a valid option for flavor_data`);
2. the provider must be enabled (else 400 `Provider '<p>' is not enabled.`);
3. the JSON must fit the provider's schema, a draft-07 JSON Schema with
   `additionalProperties: false` (else 501 `Provider '<p>' does not support a requested
   option: <the first jsonschema error>`). LB create runs the check again.

The schema holds one level of scalar keys, so the check is written out here and words its
errors as jsonschema does (`Additional properties are not allowed ('x' was unexpected)`,
`loadbalancer_topology 'X' is not one of ['ACTIVE_STANDBY', 'SINGLE']`), unknown keys first
as jsonschema's best_match ranks them.

Only what nslb honours is offered: `loadbalancer_topology` and `compute_flavor` (the
compute flavor, /compute/v2.1/flavors, whose resources and extra specs place the LB's
amphorae: nslb/placement). Octavia's `amp_image_tag`, `sriov_vip` and `allow_member_sriov`
mean nothing to a namespace amphora, so they are refused (501) rather than accepted and
ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nslb.api import jsonbody
from nslb.api.faults import BadRequest, NotImplementedOption
from nslb.api.http import shown
from nslb.model.enums import Topology
from nslb.model.placement import COMPUTE_FLAVOR

TOPOLOGY = "loadbalancer_topology"


@dataclass(frozen=True)
class Option:
    """One key of the schema: its JSON type, its description (the capability text) and,
    for a choice, the allowed values in the order Octavia lists them."""

    type: str
    description: str
    enum: tuple[str, ...] | None = None


OPTIONS: dict[str, Option] = {
    TOPOLOGY: Option(
        "string",
        "The load balancer topology. One of: SINGLE - One amphora per load balancer. "
        "ACTIVE_STANDBY - Two amphora per load balancer.",
        enum=(Topology.ACTIVE_STANDBY.value, Topology.SINGLE.value)),
    COMPUTE_FLAVOR: Option("string", "The compute driver flavor ID."),
}
_TYPES: dict[str, type] = {"string": str, "boolean": bool, "object": dict, "array": list}


def capabilities(options: dict[str, Option] | None = None) -> dict[str, str]:
    """The provider's flavor_capabilities: every key a profile may hold, described."""
    return {name: option.description for name, option in (options or OPTIONS).items()}


def check(provider: str, flavor_data: str, enabled: dict[str, str],
          options: dict[str, Option] | None = None, field: str = "flavor_data") -> dict[str, Any]:
    """The profile's metadata as a dict, after Octavia's three checks (module docstring).
    `enabled` maps the enabled provider names to their descriptions; `options` and `field`
    serve the availability zone profile's check too (nslb/api/octavia/az_data.py)."""
    value = _parse(flavor_data, field)
    if provider not in enabled:
        raise BadRequest(f"Provider '{shown(provider)}' is not enabled.")
    problem = _problem(value, options or OPTIONS)
    if problem is not None:
        raise NotImplementedOption(problem, provider)
    metadata: dict[str, Any] = value
    return metadata


def topology(metadata: dict[str, Any], default: str) -> str:
    """The topology a load balancer built with this metadata gets."""
    chosen: str = metadata.get(TOPOLOGY, default)
    return chosen


def compute_flavor(metadata: dict[str, Any]) -> str | None:
    """The compute flavor id a load balancer built with this metadata gets, if any."""
    chosen = metadata.get(COMPUTE_FLAVOR)
    return chosen if isinstance(chosen, str) else None


def _parse(flavor_data: str, field: str) -> Any:
    """The JSON value, decoded with the API's strict parser (no NaN, no NUL, bounded depth)."""
    invalid = BadRequest(f"{shown(flavor_data)} is not a valid option for {field}")
    if not flavor_data:
        raise invalid
    try:
        return jsonbody.loads(flavor_data.encode("utf-8"))
    except BadRequest:
        raise invalid from None


def _problem(value: Any, options: dict[str, Option]) -> str | None:
    """The first schema violation, in jsonschema's words, or None."""
    if not isinstance(value, dict):
        return f"{_show(value)} is not of type 'object'"
    extra = sorted(key for key in value if key not in options)
    if extra:
        verb = "was" if len(extra) == 1 else "were"
        names = ", ".join(_show(key) for key in extra)
        return f"Additional properties are not allowed ({names} {verb} unexpected)"
    for name, option in options.items():
        if name not in value:
            continue
        item = value[name]
        if not _is_type(item, option.type):
            return f"{name} {_show(item)} is not of type '{option.type}'"
        if option.enum is not None and item not in option.enum:
            return f"{name} {_show(item)} is not one of {list(option.enum)!r}"
    return None


def _is_type(value: Any, kind: str) -> bool:
    return isinstance(value, _TYPES[kind])


def _show(value: Any) -> str:
    """A user's value as jsonschema quotes it (Python's repr), cut to the API's limit."""
    return shown(repr(value))
