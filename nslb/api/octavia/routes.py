"""All Octavia v2 routes, relative to a version prefix (/v2 or /v2.0)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from nslb.api.octavia import (
    amphorae,
    availabilityzoneprofiles,
    availabilityzones,
    flavorprofiles,
    flavors,
    healthmonitors,
    hosts,
    l7policies,
    l7rules,
    listeners,
    loadbalancers,
    members,
    pools,
    providers,
    quotas,
    unsupported,
)


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for module in (loadbalancers, listeners, pools, members, healthmonitors, l7policies,
                   l7rules, quotas, providers, amphorae, flavors, flavorprofiles, hosts,
                   availabilityzones, availabilityzoneprofiles,
                   unsupported):
        out.extend(module.routes())
    return out
