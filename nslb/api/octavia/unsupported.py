"""Resources nslb does not implement yet. Reads answer as an empty deployment would
(empty lists, 404 for an id); writes answer 501 naming the feature. Never accept-and-ignore."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import NotFound, NotImplementedOption
from nslb.api.http import Handler, respond

# path -> (collection key, label in 404s, feature named in 501s)
RESOURCES: dict[str, tuple[str, str, str]] = {}


def _handlers(collection: str, label: str, feature: str) -> tuple[Handler, Handler, Handler]:
    async def list_all(request: Request) -> Response:
        return respond({collection: [], f"{collection}_links": []})

    async def one(request: Request) -> Response:
        raise NotFound.of(label, request.path_params["id"])

    async def write(request: Request) -> Response:
        raise NotImplementedOption(feature)

    return list_all, one, write


def routes() -> list[Route]:
    out = []
    for path, (collection, label, feature) in RESOURCES.items():
        list_all, one, write = _handlers(collection, label, feature)
        out += [
            Route(path, list_all, methods=["GET"]),
            Route(path, write, methods=["POST"]),
            Route(path + "/{id}", one, methods=["GET"]),
            Route(path + "/{id}", write, methods=["PUT", "DELETE"]),
            Route(path + "/{id}/{rest:path}", write, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    return out
