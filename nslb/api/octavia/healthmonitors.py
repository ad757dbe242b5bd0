"""`/v2/lbaas/healthmonitors`: CRUD; one health monitor per pool."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import ValidationFailure
from nslb.api.http import context, parse, read_root, respond
from nslb.api.octavia import construct, views
from nslb.api.octavia.common import apply_changes, db, find, kick, read_endpoints
from nslb.api.octavia.schemas import HealthMonitorCreate, HealthMonitorUpdate
from nslb.api.octavia.view_cache import ViewCache, is_record
from nslb.lbaas import builders, children, udp_rules
from nslb.lbaas.locks import lock_pool_and_parents, mark
from nslb.lbaas.quota import enforce
from nslb.model.resources import HealthMonitor, Pool
from nslb.model.status import Event

_VIEWS = ViewCache()


def render_many(session: Session, hms: list[HealthMonitor]) -> list[dict[str, Any]]:
    if is_record(hms):  # a page: views of unchanged rows are reused (view_cache.py)
        return _VIEWS.render(hms, views.healthmonitor)
    return [views.healthmonitor(h) for h in hms]


def check_type_for_pool(hm_type: str, pool_protocol: str, delay: int | None = None) -> None:
    """Octavia's API checks the monitor type (and a UDP-CONNECT delay) against the pool's
    protocol (400) before the provider is asked: udp_rules.check_monitor."""
    udp_rules.check_monitor(hm_type, delay, pool_protocol)


async def create(request: Request) -> Response:
    data = parse(HealthMonitorCreate, await read_root(request, "healthmonitor"), "healthmonitor")
    ctx = context(request)
    with db(request).write() as session:
        pool = find(session, Pool, data.pool_id, ctx)
        check_type_for_pool(data.type, pool.protocol, data.delay)
        children.check_no_monitor(session, pool.id)
        hm = construct.new_healthmonitor(data, pool, pool.project_id)
        enforce(session, pool.project_id, {HealthMonitor: 1})
        lock_pool_and_parents(session, pool)
        session.add(hm)
        session.flush()
        body = views.healthmonitor(hm)
    kick(request)
    return respond({"healthmonitor": body}, 201)


list_all, show = read_endpoints(HealthMonitor, "healthmonitors", "healthmonitor", render_many)


async def update(request: Request) -> Response:
    data = parse(HealthMonitorUpdate, await read_root(request, "healthmonitor"), "healthmonitor")
    changes = data.model_dump(exclude_unset=True)
    with db(request).write() as session:
        hm = find(session, HealthMonitor, request.path_params["id"], context(request))
        if hm.type not in ("HTTP", "HTTPS"):
            # Octavia refuses these for non-HTTP monitors even when they are null.
            extra = [k for k in builders.HTTP_HM_FIELDS if k in changes]
            if extra:
                raise ValidationFailure(f"{', '.join(extra)} cannot be used with health "
                                        f"monitor type {hm.type}.")
        else:
            merged = {k: getattr(hm, k) for k in builders.HTTP_HM_FIELDS} | changes
            builders.check_hm_fields(merged, hm.type)
        pool = session.get(Pool, hm.pool_id)
        assert pool is not None
        udp_rules.check_monitor(hm.type, changes.get("delay"), pool.protocol)
        lock_pool_and_parents(session, pool)
        mark(hm, Event.UPDATE)
        apply_changes(hm, changes)
        body = views.healthmonitor(hm)
    kick(request)
    return respond({"healthmonitor": body})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        hm = find(session, HealthMonitor, request.path_params["id"], context(request))
        pool = session.get(Pool, hm.pool_id)
        assert pool is not None
        lock_pool_and_parents(session, pool)
        mark(hm, Event.DELETE)
    kick(request)
    return respond(None, 204)


def routes() -> list[Route]:
    base = "/lbaas/healthmonitors"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
