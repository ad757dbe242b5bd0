"""`/v2/lbaas/pools`: CRUD. Deleting a pool takes its members and health monitor with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.context import Context
from nslb.api.faults import ValidationFailure
from nslb.api.http import context, parse, read_root, respond
from nslb.api.octavia import construct, tls, views
from nslb.api.octavia.common import apply_changes, db, find, kick, read_endpoints
from nslb.api.octavia.schemas import PoolCreate, PoolUpdate
from nslb.api.octavia.view_cache import ViewCache, is_record
from nslb.db import tree
from nslb.lbaas import builders, children
from nslb.lbaas.locks import lock_parents, mark
from nslb.lbaas.quota import enforce
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool
from nslb.model.status import Event

_VIEWS = ViewCache()


def render_many(session: Session, pools: list[Pool]) -> list[dict[str, Any]]:
    ids = [p.id for p in pools]
    listeners = tree.listeners_using_pool(session, ids)
    members = tree.child_ids(session, Member, "pool_id", ids)
    hms = tree.healthmonitor_of(session, ids)
    if is_record(pools):  # a page: views of unchanged rows are reused (view_cache.py)
        return _VIEWS.render(pools, views.pool, (listeners, []), (members, []),
                             (hms, None))
    return [views.pool(p, listeners.get(p.id, []), members.get(p.id, []), hms.get(p.id))
            for p in pools]


def render_full(pool: Pool, t: tree.Tree) -> dict[str, Any]:
    """A pool with its members and health monitor inline (single-call create response)."""
    members = [m for m in t.members if m.pool_id == pool.id]
    hm = next((h for h in t.healthmonitors if h.pool_id == pool.id), None)
    listeners = [li.id for li in t.listeners if li.default_pool_id == pool.id]
    return views.pool_full(pool, listeners, members, hm)


async def create(request: Request) -> Response:
    data = parse(PoolCreate, await read_root(request, "pool"), "pool")
    if data.healthmonitor is not None or data.members:
        raise ValidationFailure("healthmonitor and members are only valid in a single-call "
                                "create.")
    ctx = context(request)
    with db(request).read() as session:
        lb, _ = _pool_parents(session, data, ctx)
    pool = construct.new_pool(data, lb, lb.project_id)
    tls.check_new(request, lb.project_id, [], [pool])  # grants: before the write transaction
    with db(request).write() as session:
        lb, listener = _pool_parents(session, data, ctx)
        enforce(session, lb.project_id, {Pool: 1})
        lock_parents(session, lb.id, [listener.id] if listener else [])
        session.add(pool)
        session.flush()
        if listener is not None:
            listener.default_pool_id = pool.id
        tls.follow(session, request, lb.project_id)
        body = views.pool(pool, [listener.id] if listener else [], [], None)
    kick(request, lb.id)
    return respond({"pool": body}, 201)


def _pool_parents(session: Session, data: PoolCreate,
                  ctx: Context) -> tuple[LoadBalancer, Listener | None]:
    """The load balancer (and listener) a new pool goes to, with Octavia's lookups and
    checks in Octavia's order."""
    listener = find(session, Listener, data.listener_id, ctx) if data.listener_id else None
    lb_id = listener.loadbalancer_id if listener else data.loadbalancer_id
    if lb_id is None:
        raise ValidationFailure("listener_id or loadbalancer_id must be specified.")
    if data.loadbalancer_id and listener and listener.loadbalancer_id != data.loadbalancer_id:
        raise ValidationFailure("The listener is not on the given load balancer.")
    lb: LoadBalancer = find(session, LoadBalancer, lb_id, ctx)
    if listener is not None:  # Octavia's API checks, before the provider's 501s
        builders.check_protocols(listener.protocol, data.protocol)
        children.check_no_default_pool(listener)
    return lb, listener


list_all, show = read_endpoints(Pool, "pools", "pool", render_many)


async def update(request: Request) -> Response:
    data = parse(PoolUpdate, await read_root(request, "pool"), "pool")
    changes = data.model_dump(exclude_unset=True)
    tls_changes = tls.pool_nulls({k: v for k, v in changes.items() if k in tls.POOL_FIELDS})
    ctx = context(request)
    with db(request).read() as session:
        pool = find(session, Pool, request.path_params["id"], ctx)
    builders.check_pool_options(changes, pool.protocol, update=True)  # again below, with the VIP
    fields = ("tls_enabled", *tls.POOL_FIELDS)
    state = {**tls.state_of(pool, fields), **tls_changes,
             **({"tls_enabled": changes["tls_enabled"]} if "tls_enabled" in changes else {})}
    tls.pool_rules(state, update=tls_changes, had_ca=bool(pool.ca_tls_container_ref))
    if tls_changes:
        tls.Refs(request, pool.project_id).pool(state, set(tls_changes))
    with db(request).write() as session:
        pool = find(session, Pool, request.path_params["id"], ctx)
        lb = session.get(LoadBalancer, pool.loadbalancer_id)
        builders.check_pool_options(changes, pool.protocol, lb.vip_address if lb else "",
                                    update=True)
        listener_ids = tree.listeners_using_pool(session, [pool.id]).get(pool.id, [])
        lock_parents(session, pool.loadbalancer_id, listener_ids)
        mark(pool, Event.UPDATE)
        apply_changes(pool, {k: v for k, v in changes.items() if k not in tls.POOL_FIELDS})
        released = tls.refs_of(pool)
        for key, value in tls_changes.items():
            setattr(pool, key, value)
        tls.follow(session, request, pool.project_id, released)
        body = render_many(session, [pool])[0]
    kick(request, pool.loadbalancer_id)
    return respond({"pool": body})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        pool = find(session, Pool, request.path_params["id"], context(request))
        children.check_pool_unused(session, pool.id)
        listener_ids = tree.listeners_using_pool(session, [pool.id]).get(pool.id, [])
        lock_parents(session, pool.loadbalancer_id, listener_ids)
        mark(pool, Event.DELETE)
        for lid in listener_ids:
            listener = session.get(Listener, lid)
            if listener is not None:
                listener.default_pool_id = None
        for cls in (Member, HealthMonitor):
            for ident in tree.child_ids(session, cls, "pool_id", [pool.id]).get(pool.id, []):
                child = session.get(cls, ident)
                if child is not None:
                    mark(child, Event.DELETE)
        tls.follow(session, request, pool.project_id, tls.refs_of(pool))
    kick(request)
    return respond(None, 204)


def routes() -> list[Route]:
    base = "/lbaas/pools"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
