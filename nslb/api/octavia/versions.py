"""The version document at `/` (and under the /load-balancer prefix).

Which 2.x version nslb claims, and why. Octavia does not negotiate microversions: every
2.x request gets the same answer, and the version document tells clients which features
they may use. A minor version adds either fields and options or whole endpoints:

- fields and options: claimed when nslb accepts the field and returns it. A value nslb
  cannot honour answers the provider's 501 (ProviderUnsupportedOptionError), as Octavia
  answers for any provider that lacks an option (the OVN provider refuses TLS, L7 and
  more under the same versions), so it does not hold a version back;
- endpoints (flavors, availability zones, amphora stats/config/delete): claimed only when
  nslb serves them for real. The placeholders in api/octavia/unsupported.py (empty lists and
  501 on create) do not count: a client told "2.6" may create a flavor and use it.

The highest minor whose own additions and every earlier minor's are served is CURRENT;
`max_minor()` computes it from the routes, so it rises by itself when flavors or
availability zones replace their placeholders.
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.http import base_url, respond

Need = tuple[str, str]  # (method, route path under the version prefix)
FLAVORS: tuple[Need, ...] = (("POST", "/lbaas/flavors"), ("POST", "/lbaas/flavorprofiles"))
ZONES: tuple[Need, ...] = (("POST", "/lbaas/availabilityzones"),
                           ("POST", "/lbaas/availabilityzoneprofiles"))
AMPHORA_STATS: tuple[Need, ...] = (("GET", "/octavia/amphorae/{id}/stats"),)

# minor -> (Octavia's release date of it, what it adds, the endpoints it needs)
MINORS: dict[int, tuple[str, str, tuple[Need, ...]]] = {
    0: ("2016-12-11T00:00:00Z", "the v2 API", ()),
    1: ("2018-04-20T00:00:00Z", "listener timeouts, member backup, X-Forwarded-Proto, "
        "amphora image_id", (("GET", "/octavia/amphorae"),)),
    2: ("2018-07-31T00:00:00Z", "session persistence timeout and granularity (UDP)", ()),
    3: ("2018-12-18T00:00:00Z", "amphora statistics, amphora compute_flavor", AMPHORA_STATS),
    4: ("2018-12-19T00:00:00Z", "amphora statistics", AMPHORA_STATS),
    5: ("2019-01-21T00:00:00Z", "tags", ()),
    6: ("2019-01-25T00:00:00Z", "flavors and flavor profiles", FLAVORS),
    7: ("2018-01-25T12:00:00Z", "amphora configuration update",
        (("PUT", "/octavia/amphorae/{id}/config"),)),
    8: ("2019-02-12T00:00:00Z", "TLS client authentication, backend re-encryption", ()),
    9: ("2019-03-04T00:00:00Z", "L7 redirect HTTP code", ()),
    10: ("2019-03-05T00:00:00Z", "health monitor domain_name and http_version", ()),
    11: ("2019-06-24T00:00:00Z", "additive-only member batch update", ()),
    12: ("2019-09-11T00:00:00Z", "listener allowed_cidrs", ()),
    13: ("2019-09-13T00:00:00Z", "SOURCE_IP_PORT algorithm", ()),
    14: ("2019-11-10T00:00:00Z", "availability zones and profiles", ZONES),
    15: ("2020-03-10T00:00:00Z", "TLS cipher options", ()),
    16: ("2020-03-15T00:00:00Z", "HTTP and TCP health monitors for UDP pools", ()),
    17: ("2020-04-29T00:00:00Z", "listener TLS versions", ()),
    18: ("2020-04-29T01:00:00Z", "pool TLS versions", ()),
    19: ("2020-05-12T00:00:00Z", "L7 policy and rule quotas", ()),
    20: ("2020-08-02T00:00:00Z", "listener ALPN protocols", ()),
    21: ("2020-09-03T00:00:00Z", "amphora delete", (("DELETE", "/octavia/amphorae/{id}"),)),
    22: ("2020-09-04T00:00:00Z", "PROXYV2 pool protocol", ()),
    23: ("2020-09-07T00:00:00Z", "SCTP", ()),
    24: ("2020-10-15T00:00:00Z", "pool ALPN protocols", ()),
    25: ("2021-10-02T00:00:00Z", "PROMETHEUS listeners", ()),
    26: ("2022-08-29T00:00:00Z", "additional VIPs", ()),
    27: ("2023-05-05T00:00:00Z", "HTTP Strict Transport Security", ()),
    28: ("2023-11-08T00:00:00Z", "VIP vnic_type", ()),
    29: ("2024-10-15T00:00:00Z", "VIP security groups", ()),
    30: ("2025-02-26T00:00:00Z", "member port SR-IOV", ()),
}


def served(needs: tuple[Need, ...], routes: set[Need], placeholders: set[str]) -> bool:
    """Every needed endpoint is routed, and not to a placeholder of api/octavia/unsupported.py."""
    return all(need in routes and not any(need[1].startswith(p) for p in placeholders)
               for need in needs)


def highest(routes: set[Need], placeholders: set[str]) -> int:
    """The last minor before the first one whose endpoints nslb does not serve."""
    top = 0
    for minor in sorted(MINORS):
        if not served(MINORS[minor][2], routes, placeholders):
            break
        top = minor
    return top


@functools.cache
def max_minor() -> int:
    """`highest` over the Octavia routes this build has (imported late: they import us)."""
    from nslb.api.octavia import routes as octavia
    from nslb.api.octavia import unsupported

    routes = {(method, route.path) for route in octavia.routes() if isinstance(route, Route)
              for method in route.methods or ()}
    return highest(routes, set(unsupported.RESOURCES))


async def versions(request: Request) -> Response:
    prefix = "/load-balancer" if request.url.path.startswith("/load-balancer") else ""
    href = f"{base_url(request)}{prefix}/v2"
    top = max_minor()
    docs = [{"id": f"v2.{minor}", "status": "CURRENT" if minor == top else "SUPPORTED",
             "updated": MINORS[minor][0], "links": [{"href": href, "rel": "self"}]}
            for minor in range(top + 1)]
    return respond({"versions": docs})
