"""`/v2/lbaas/providers`: nslb registers under Octavia's own provider names, so clients that
send `provider: amphora` (or the `octavia` alias) work unchanged.

Shapes and errors are Octavia's ProviderController: `fields` selects keys, the capability
lists take `name`/`description` filters, and a provider that is not enabled is a 400
(driver_factory's ProviderNotEnabled), not a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest
from nslb.api.http import respond
from nslb.api.listing import fields_of, select_fields
from nslb.api.octavia import az_data, flavor_data
from nslb.db.query import short

PROVIDERS = {
    "amphora": "nslb: HAProxy in a Linux network namespace (Octavia amphora compatible). "
               "Extensions: L7 policy action FIXED_RESPONSE, L7 rule type SOURCE_IP.",
    "octavia": "Alias of the amphora provider.",
}
# What the amphora provider accepts in a flavor profile (nslb/api/octavia/flavor_data.py) and in an
# availability zone profile (nslb/api/octavia/az_data.py).
CAPABILITIES: dict[str, dict[str, str]] = {"flavor_capabilities": flavor_data.capabilities(),
                                           "availability_zone_capabilities": az_data.capabilities()}


def _items(request: Request, pairs: dict[str, str]) -> list[dict[str, str]]:
    fields = fields_of(request)
    return [select_fields({"name": n, "description": d}, fields) for n, d in pairs.items()]


async def list_all(request: Request) -> Response:
    return respond({"providers": _items(request, PROVIDERS)})


async def capabilities(request: Request) -> Response:
    # Octavia's provider-flavor and provider-availability-zone policies are admin-only
    # (nslb.api.policy.RULES).
    name = request.path_params["provider"]
    if name not in PROVIDERS:
        raise BadRequest(f"Provider '{short(name)}' is not enabled.")
    kind = request.url.path.rsplit("/", 1)[-1]
    wanted = {k: request.query_params.get(k) for k in ("name", "description")}
    found = {n: d for n, d in CAPABILITIES[kind].items()
             if wanted["name"] in (None, n) and wanted["description"] in (None, d)}
    return respond({kind: _items(request, found)})


def routes() -> list[Route]:
    return [
        Route("/lbaas/providers", list_all, methods=["GET"]),
        Route("/lbaas/providers/{provider}/flavor_capabilities", capabilities, methods=["GET"]),
        Route("/lbaas/providers/{provider}/availability_zone_capabilities", capabilities,
              methods=["GET"]),
    ]
