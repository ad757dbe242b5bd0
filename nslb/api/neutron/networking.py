"""The Neutron-compatible network registry under /networking: version and extension
documents just complete enough for openstacksdk and the `openstack` CLI, then networks,
subnets, ports and floating IPs. Point clients at `<nslb>/networking/v2.0` as the network
endpoint."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from nslb.api.http import respond
from nslb.api.neutron import floatingips, networks, ports, subnets
from nslb.api.neutron.common import not_found

# Only extensions whose attributes nslb really serves; clients probe these before use.
EXTENSIONS = (
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
     "field is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add "
     "descriptions to standard attributes"),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at "
     "fields to all Neutron resources that have Neutron standard attributes."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is "
     "enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("external-net", "Neutron external network", "Adds external network attribute to network "
     "resource."),
)


def _base(request: Request) -> str:
    public = request.app.state.settings.public_url
    root = public.rstrip("/") if public else f"{request.url.scheme}://{request.url.netloc}"
    return f"{root}/networking"


def _version(request: Request) -> dict[str, Any]:
    return {"id": "v2.0", "status": "CURRENT",
            "links": [{"href": f"{_base(request)}/v2.0/", "rel": "self"}]}


async def versions(request: Request) -> Response:
    return respond({"versions": [_version(request)]})


async def resources(request: Request) -> Response:
    """Neutron's resource list, plus a `version` entry: keystoneauth runs discovery on the
    endpoint override itself (`.../v2.0`) and accepts only a version document there."""
    base = f"{_base(request)}/v2.0"
    items = [{"name": name, "collection": f"{name}s",
              "links": [{"href": f"{base}/{name}s", "rel": "self"}]}
             for name in ("network", "subnet", "port", "floatingip")]
    return respond({"resources": items, "version": _version(request)})


def _extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description,
            "updated": "2024-01-01T00:00:00-00:00", "links": []}


async def extensions(_request: Request) -> Response:
    return respond({"extensions": [_extension(*e) for e in EXTENSIONS]})


async def extension(request: Request) -> Response:
    alias = request.path_params["alias"]
    for entry in EXTENSIONS:
        if entry[0] == alias:
            return respond({"extension": _extension(*entry)})
    raise not_found("Extension", alias)


def _crud(plural: str, module: Any, writable: bool = True) -> list[BaseRoute]:
    """Collection and member routes of one resource."""
    one = f"/v2.0/{plural}/{{{plural[:-1]}_id}}"
    member_methods = {"GET": module.get, "DELETE": module.delete}
    if writable:
        member_methods["PUT"] = module.update

    async def member(request: Request) -> Response:
        handler = member_methods[request.method]
        response: Response = await handler(request)
        return response

    async def collection(request: Request) -> Response:
        handler = module.index if request.method == "GET" else module.create
        response: Response = await handler(request)
        return response

    return [Route(f"/v2.0/{plural}", collection, methods=["GET", "POST"]),
            Route(one, member, methods=list(member_methods))]


def routes() -> list[BaseRoute]:
    return [
        Route("/", versions, methods=["GET"]),
        Route("/v2.0", resources, methods=["GET"]),
        Route("/v2.0/", resources, methods=["GET"]),
        Route("/v2.0/extensions", extensions, methods=["GET"]),
        Route("/v2.0/extensions/{alias}", extension, methods=["GET"]),
        *_crud("networks", networks),
        *_crud("subnets", subnets),
        *_crud("ports", ports, writable=False),
        *_crud("floatingips", floatingips),
    ]
