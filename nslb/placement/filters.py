"""The filters: each says why a host cannot take the amphora, or None when it can.

The reasons are what an operator reads when no host passes, so they name the values that
decided (the zone asked and the zone of the host, the spec and the aggregate's values).
"""

from __future__ import annotations

from collections.abc import Callable

from nslb.placement import extra_specs
from nslb.placement.state import HostState, Request

Filter = Callable[[HostState, Request], str | None]


def host_up(host: HostState, req: Request) -> str | None:
    return None if host.up else "host is down or draining"


def ignore_hosts(host: HostState, req: Request) -> str | None:
    return "the amphora being replaced is there" if host.id in req.ignore_hosts else None


def availability_zone(host: HostState, req: Request) -> str | None:
    if not req.zones or host.zone in req.zones:
        return None
    wanted = ", ".join(sorted(req.zones))
    return f"in zone {host.zone or '(default)'}, asked {wanted}"


def aggregate_extra_specs(host: HostState, req: Request) -> str | None:
    for spec, requirement in sorted(req.flavor.extra_specs.items()):
        key = extra_specs.aggregate_key(spec)
        if key is None:
            continue
        values = host.metadata.get(key)
        if not values:
            return f"no aggregate of the host sets {key}"
        if not any(extra_specs.matches(v, requirement) for v in values):
            return f"{key}={','.join(sorted(values))} does not match {requirement!r}"
    return None


def capacity(host: HostState, req: Request) -> str | None:
    free, takes = host.free(), req.flavor.takes()
    if free.amphorae < takes.amphorae:
        return f"holds {host.used.amphorae} of {host.capacity.amphorae} amphorae"
    if free.memory_mb < takes.memory_mb:
        return f"{free.memory_mb} MB free, the flavor takes {takes.memory_mb} MB"
    if free.connections < takes.connections:
        return (f"{free.connections} connections free, the flavor takes "
                f"{takes.connections}")
    return None


def anti_affinity(host: HostState, req: Request) -> str | None:
    if host.id in req.peer_hosts:
        return "holds another amphora of the load balancer"
    if req.zone_anti_affinity and host.zone in req.peer_zones:
        return f"zone {host.zone or '(default)'} holds another amphora of the load balancer"
    return None


# Name -> filter, in the order they run (cheap and decisive first).
FILTERS: dict[str, Filter] = {
    "HostUp": host_up, "IgnoreHosts": ignore_hosts, "AvailabilityZone": availability_zone,
    "AntiAffinity": anti_affinity, "AggregateInstanceExtraSpecs": aggregate_extra_specs,
    "Capacity": capacity,
}
