"""`/v2/lbaas/pools/{pool_id}/members`: CRUD and the batch update (PUT on the collection)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.context import Context
from nslb.api.faults import NotFound
from nslb.api.http import context, parse, read_envelope, read_root, respond
from nslb.api.octavia import construct, views
from nslb.api.octavia.common import apply_changes, db, find, kick, list_response, show_response
from nslb.api.octavia.schemas import MemberCreate, MembersBatch, MemberUpdate
from nslb.db import tree
from nslb.db.tables import member as member_table
from nslb.lbaas import children
from nslb.lbaas.capacity import ensure_room
from nslb.lbaas.locks import lock_pool_and_parents, mark
from nslb.lbaas.quota import enforce
from nslb.lbaas.vip import plug_member_subnet
from nslb.model.resources import LoadBalancer, Member, Pool
from nslb.model.status import Event

UPDATABLE = ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port",
             "tags")


def render_many(session: Session, members: list[Member]) -> list[dict[str, Any]]:
    return [views.member(m) for m in members]


def _pool(session: Session, request: Request, ctx: Context) -> Pool:
    pool: Pool = find(session, Pool, request.path_params["pool_id"], ctx)
    return pool


def _member(session: Session, request: Request, ctx: Context) -> Member:
    pool = _pool(session, request, ctx)
    member = session.get(Member, request.path_params["id"])
    if member is None or member.pool_id != pool.id:
        raise NotFound.of("Member", request.path_params["id"])
    return member



def _new(session: Session, data: MemberCreate, pool: Pool, lb: LoadBalancer,
         ctx: Context) -> Member:
    children.check_member_free(session, pool.id, data.address, data.protocol_port)
    plug_member_subnet(session, lb.id, lb.vip_subnet_id, data.address, data.subnet_id, ctx,
                       lb.project_id)
    has_hm = bool(tree.healthmonitor_of(session, [pool.id]))
    return construct.new_member(data, pool, lb.project_id, has_hm, lb.vip_address)


async def create(request: Request) -> Response:
    data = parse(MemberCreate, await read_root(request, "member"), "member")
    ctx = context(request)
    with db(request).write() as session:
        pool = _pool(session, request, ctx)
        lb = session.get(LoadBalancer, pool.loadbalancer_id)
        assert lb is not None
        member = _new(session, data, pool, lb, ctx)
        enforce(session, lb.project_id, {Member: 1})
        ensure_room(session, lb.id, members=1)
        lock_pool_and_parents(session, pool)
        session.add(member)
        session.flush()
        body = views.member(member)
    kick(request, lb.id)
    return respond({"member": body}, 201)


async def list_all(request: Request) -> Response:
    with db(request).read() as session:
        pool = _pool(session, request, context(request))
    return list_response(request, Member, "members", render_many, fixed={"pool_id": pool.id},
                         plain=True)


async def show(request: Request) -> Response:
    with db(request).read() as session:
        member = _member(session, request, context(request))
        return show_response(request, "member", views.member(member))


async def update(request: Request) -> Response:
    data = parse(MemberUpdate, await read_root(request, "member"), "member")
    changes = data.model_dump(exclude_unset=True)
    with db(request).write() as session:
        member = _member(session, request, context(request))
        pool = session.get(Pool, member.pool_id)
        assert pool is not None
        lock_pool_and_parents(session, pool)
        mark(member, Event.UPDATE)
        apply_changes(member, changes)
        body = views.member(member)
    kick(request)
    return respond({"member": body})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        member = _member(session, request, context(request))
        pool = session.get(Pool, member.pool_id)
        assert pool is not None
        lock_pool_and_parents(session, pool)
        mark(member, Event.DELETE)
    kick(request)
    return respond(None, 204)


async def batch(request: Request) -> Response:
    """Make the pool's members exactly the given list (or add/update only)."""
    data = parse(MembersBatch, {"members": await read_envelope(request, "members", list)},
                 "members")
    additive = request.query_params.get("additive_only", "").lower() == "true"
    ctx = context(request)
    with db(request).write() as session:
        pool = _pool(session, request, ctx)
        lb = session.get(LoadBalancer, pool.loadbalancer_id)
        assert lb is not None
        existing = {(m.address, m.protocol_port): m for m in session.scalars(
            select(Member).where(member_table.c.pool_id == pool.id))}
        wanted = {(m.address, m.protocol_port): m for m in data.members}
        children.check_batch_distinct([(m.address, m.protocol_port) for m in data.members])
        lock_pool_and_parents(session, pool)
        new = [k for k in wanted if k not in existing]
        enforce(session, lb.project_id, {Member: len(new)})
        ensure_room(session, lb.id, members=len(new))
        for key, item in wanted.items():
            if key in existing:
                mark(existing[key], Event.UPDATE)
                apply_changes(existing[key], item.model_dump(exclude_unset=True,
                                                             include=set(UPDATABLE)))
            else:
                session.add(_new(session, item, pool, lb, ctx))
        if not additive:
            for key, member in existing.items():
                if key not in wanted:
                    mark(member, Event.DELETE)
    kick(request)
    return Response(status_code=202)


def routes() -> list[Route]:
    base = "/lbaas/pools/{pool_id}/members"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base, batch, methods=["PUT"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]

