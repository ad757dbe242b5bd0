"""`/v2/octavia/amphorae`: the admin view of the data plane, as Octavia's amphora API.

Shapes follow Octavia's code (`loadbalancer_id`, not the api-ref's `load_balancer_id`).
Every route is admin-only (nslb/api/policy.py). A failover request is recorded in the
database (the amphora goes to PENDING_DELETE with a replacement row, the load balancer to
PENDING_UPDATE) and carried out by the worker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import Conflict, NotFound
from nslb.api.http import respond
from nslb.api.octavia.common import db, kick, list_response, show_response
from nslb.api.octavia.views import ts
from nslb.db import amphorae
from nslb.db.query import short
from nslb.db.tables import listener_statistics
from nslb.lbaas.locks import lock_lb
from nslb.model.enums import AmphoraStatus
from nslb.model.resources import Amphora

FIELDS = ("id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
          "vrrp_port_id", "ha_port_id", "role", "status", "vrrp_interface", "vrrp_id",
          "vrrp_priority", "cached_zone", "image_id", "compute_flavor", "cert_busy")


def view(amphora: Amphora) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(amphora, name) for name in FIELDS}
    out.update(cert_expiration=ts(amphora.cert_expiration), created_at=ts(amphora.created_at),
               updated_at=ts(amphora.updated_at))
    return out


def _render(_session: Session, rows: list[Amphora]) -> list[dict[str, Any]]:
    return [view(a) for a in rows if a.status != AmphoraStatus.DELETED]


def _find(session: Session, ident: str) -> Amphora:
    amphora = session.get(Amphora, ident)
    if amphora is None or amphora.status == AmphoraStatus.DELETED:
        raise NotFound(f"Amphora {short(ident)} not found.")
    return amphora


async def list_all(request: Request) -> Response:
    return list_response(request, Amphora, "amphorae", _render)


async def show(request: Request) -> Response:
    with db(request).read() as session:
        return show_response(request, "amphora", view(_find(session, request.path_params["id"])))


async def stats(request: Request) -> Response:
    with db(request).read() as session:
        amphora = _find(session, request.path_params["id"])
        rows = session.execute(select(listener_statistics).where(
            listener_statistics.c.loadbalancer_id == amphora.loadbalancer_id)).all()
    if not rows:
        raise NotFound(f"Amphora stats for {amphora.id} not found.")
    return respond({"amphora_stats": [{
        "id": amphora.id, "loadbalancer_id": amphora.loadbalancer_id,
        "listener_id": row.listener_id, "active_connections": row.active_connections,
        "bytes_in": row.bytes_in, "bytes_out": row.bytes_out,
        "request_errors": row.request_errors, "total_connections": row.total_connections,
    } for row in rows]})


async def failover(request: Request) -> Response:
    """Replace one amphora; its load balancer must be ACTIVE (Octavia: else 409)."""
    with db(request).write() as session:
        amphora = _find(session, request.path_params["id"])
        if amphora.loadbalancer_id is None:
            raise Conflict(f"Amphora {amphora.id} serves no load balancer.")
        lock_lb(session, amphora.loadbalancer_id)
        amphorae.request_failover(session, [amphora])
    request.app.state.metrics.failovers.labels("api").inc()
    kick(request, amphora.loadbalancer_id)
    return Response(status_code=202)


async def configure(request: Request) -> Response:
    """Push the amphora's configuration again (Octavia re-sends its agent config)."""
    with db(request).read() as session:
        amphora = _find(session, request.path_params["id"])
    if amphora.loadbalancer_id is not None:
        request.app.state.resync(amphora.loadbalancer_id)
    return Response(status_code=202)


async def delete(request: Request) -> Response:
    """Only an amphora in ERROR may go (Octavia); nslb builds its replacement, so the load
    balancer keeps its topology."""
    with db(request).write() as session:
        amphora = _find(session, request.path_params["id"])
        if amphora.status != AmphoraStatus.ERROR or amphora.loadbalancer_id is None:
            raise Conflict(f"amphora {amphora.id} is immutable and cannot be updated.")
        lock_lb(session, amphora.loadbalancer_id)
        amphorae.request_failover(session, [amphora])
    request.app.state.metrics.failovers.labels("api").inc()
    kick(request, amphora.loadbalancer_id)
    return Response(status_code=204)


def routes() -> list[Route]:
    base = "/octavia/amphorae"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
        Route(base + "/{id}/stats", stats, methods=["GET"]),
        Route(base + "/{id}/failover", failover, methods=["PUT"]),
        Route(base + "/{id}/config", configure, methods=["PUT"]),
    ]
