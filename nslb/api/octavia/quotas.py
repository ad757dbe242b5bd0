"""Quotas: `/quotas`, `/quotas/defaults`, `/quotas/{project_id}` (and its `/default`).

The limits and their enforcement are the domain's (nslb/lbaas/quota.py): -1 means
unlimited, a project without its own row uses the defaults, over quota answers 403.

Shapes are Octavia's QuotaResponse: `project_id` and `tenant_id` beside every limit under
both spellings (`loadbalancer`/`load_balancer`, `healthmonitor`/`health_monitor`). A list
shows the stored rows as they are (null: the deployment default, as the api-ref says);
one project's quota fills the defaults in. Octavia routes `GET /quotas/defaults` to the
quota of a project named "defaults" (pecan takes the word as the project id), so the
answer names that project and needs the same read-quota right as any other project's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest
from nslb.api.http import parse, read_root, respond
from nslb.api.octavia.common import db, list_response
from nslb.api.octavia.schemas import QuotaUpdate
from nslb.db.query import short
from nslb.lbaas.quota import DEFAULTS, effective
from nslb.model.resources import QUOTA_RESOURCES, Quota

ALIASES = {"load_balancer": "loadbalancer", "health_monitor": "healthmonitor"}
MAX_PROJECT_ID = 255  # the quota.project_id column: PostgreSQL refuses longer (a 500, F11)

# The project whose quota `GET /quotas/defaults` shows in Octavia (see the docstring).
DEFAULTS_PROJECT = "defaults"


def _view(values: Mapping[str, int | None], project_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"project_id": project_id, "tenant_id": project_id, **values}
    out["load_balancer"] = values["loadbalancer"]
    out["health_monitor"] = values["healthmonitor"]
    return out


def _stored(row: Quota) -> dict[str, int | None]:
    return {name: getattr(row, name) for name in QUOTA_RESOURCES}


async def list_quotas(request: Request) -> Response:
    def render(session: Session, rows: list[Quota]) -> list[dict[str, Any]]:
        return [_view(_stored(r), r.project_id) for r in rows]
    return list_response(request, Quota, "quotas", render, key="project_id")


async def defaults(request: Request) -> Response:
    return respond({"quota": _view(DEFAULTS, DEFAULTS_PROJECT)})


async def project_defaults(request: Request) -> Response:
    """`GET /quotas/{project_id}/default`: the defaults, as they apply to that project."""
    return respond({"quota": _view(DEFAULTS, _project_id(request))})


async def show(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    with db(request).read() as session:
        values = effective(session.get(Quota, project_id))
    return respond({"quota": _view(values, project_id)})


def _project_id(request: Request) -> str:
    """The path's project id, if a quota row can hold it."""
    project_id: str = request.path_params["project_id"]
    if len(project_id) > MAX_PROJECT_ID:
        raise BadRequest(f"Invalid input for field/attribute project_id. Value: "
                         f"'{short(project_id)}'. Value should have a maximum character "
                         f"requirement of {MAX_PROJECT_ID}")
    return project_id


async def update(request: Request) -> Response:
    project_id = _project_id(request)
    data = parse(QuotaUpdate, await read_root(request, "quota"), "quota")
    changes = {ALIASES.get(k, k): v for k, v in data.model_dump(exclude_unset=True).items()}
    with db(request).write() as session:
        row = session.get(Quota, project_id)
        if row is None:
            row = Quota(project_id=project_id)
            session.add(row)
        for name, value in changes.items():
            setattr(row, name, value)
        values = effective(row)
    return respond({"quota": _view(values, project_id)}, 202)


async def reset(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    with db(request).write() as session:
        row = session.get(Quota, project_id)
        if row is not None:
            session.delete(row)
    return Response(status_code=202)


def routes() -> list[Route]:
    return [
        Route("/lbaas/quotas", list_quotas, methods=["GET"]),
        Route("/lbaas/quotas/defaults", defaults, methods=["GET"]),
        Route("/lbaas/quotas/{project_id}", show, methods=["GET"]),
        Route("/lbaas/quotas/{project_id}", update, methods=["PUT"]),
        Route("/lbaas/quotas/{project_id}", reset, methods=["DELETE"]),
        Route("/lbaas/quotas/{project_id}/default", project_defaults, methods=["GET"]),
    ]
