"""`/v2/lbaas/providers`: nslb registers under Octavia's own provider names, so clients that
send `provider: amphora` (or the `octavia` alias) work unchanged."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import NotFound
from nslb.api.http import respond

PROVIDERS = {
    "amphora": "nslb: HAProxy in a Linux network namespace (Octavia amphora compatible).",
    "octavia": "Alias of the amphora provider.",
}


async def list_all(request: Request) -> Response:
    return respond({"providers": [{"name": n, "description": d} for n, d in PROVIDERS.items()]})


async def capabilities(request: Request) -> Response:
    name = request.path_params["provider"]
    if name not in PROVIDERS:
        raise NotFound(f"Provider {name} not found.")
    kind = request.url.path.rsplit("/", 1)[-1]
    return respond({kind: []})


def routes() -> list[Route]:
    return [
        Route("/lbaas/providers", list_all, methods=["GET"]),
        Route("/lbaas/providers/{provider}/flavor_capabilities", capabilities, methods=["GET"]),
        Route("/lbaas/providers/{provider}/availability_zone_capabilities", capabilities,
              methods=["GET"]),
    ]
