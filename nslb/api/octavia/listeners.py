"""`/v2/lbaas/listeners`: CRUD and per-listener stats."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import NotFound, ValidationFailure
from nslb.api.http import context, parse, read_root, respond
from nslb.api.octavia import construct, tls, tree_create, views
from nslb.api.octavia.common import apply_changes, db, find, kick, read_endpoints
from nslb.api.octavia.schemas import ListenerCreate, ListenerUpdate
from nslb.api.octavia.view_cache import ViewCache, is_record
from nslb.db import l7, tree
from nslb.db import stats as stats_repo
from nslb.lbaas import builders, children, udp_rules
from nslb.lbaas.capacity import ensure_room
from nslb.lbaas.locks import lock_parents, mark
from nslb.lbaas.quota import enforce
from nslb.lbaas.vip import plug_member_subnet
from nslb.model.resources import L7Policy, Listener, LoadBalancer, Pool
from nslb.model.status import Event

_VIEWS = ViewCache()


def render_many(session: Session, listeners: list[Listener]) -> list[dict[str, Any]]:
    policies = tree.child_ids(session, L7Policy, "listener_id", [li.id for li in listeners])
    if is_record(listeners):  # a page: views of unchanged rows are reused (view_cache.py)
        return _VIEWS.render(listeners, views.listener, (policies, []))
    return [views.listener(li, policies.get(li.id, [])) for li in listeners]


def _check_default_pool(session: Session, lb_id: str, protocol: str,
                        pool_id: str | None) -> None:
    """Octavia's _validate_pool: a pool that is not on the LB is not found (404), one
    that is must fit the listener's protocol (400)."""
    if pool_id is None:
        return
    builders.check_no_children(protocol)  # Octavia: before the pool is looked up
    pool = session.get(Pool, pool_id)
    if pool is None or pool.loadbalancer_id != lb_id:
        raise NotFound.of("Pool", pool_id)
    builders.check_protocols(protocol, pool.protocol)


async def create(request: Request) -> Response:
    data = parse(ListenerCreate, await read_root(request, "listener"), "listener")
    if data.default_pool is not None:
        raise ValidationFailure("default_pool is only valid in a single-call create; "
                                "use default_pool_id.")
    ctx = context(request)
    with db(request).read() as session:
        lb = find(session, LoadBalancer, data.loadbalancer_id, ctx)
        # Octavia validates the default pool before the provider sees the listener.
        _check_default_pool(session, lb.id, data.protocol, data.default_pool_id)
    listener = construct.new_listener(data, lb, lb.project_id)
    # Octavia takes L7 policies inline here too (a graph create; a redirect pool is given
    # inline, as in the single-call LB create)
    built = tree_create.Built()
    tree_create.add_policies(built, listener, data.l7policies, lb, lb.project_id)
    tls.check_new(request, lb.project_id, [listener], built.pools)
    with db(request).write() as session:
        lb = find(session, LoadBalancer, data.loadbalancer_id, ctx)
        _check_default_pool(session, lb.id, data.protocol, data.default_pool_id)
        for member in built.members:
            plug_member_subnet(session, lb.id, lb.vip_subnet_id, member.address,
                               member.subnet_id, ctx, lb.project_id)
        enforce(session, lb.project_id, {**built.counts(), Listener: 1})
        ensure_room(session, lb.id, members=len(built.members), listeners=1)
        children.check_port_free(session, lb.id, data.protocol, data.protocol_port)
        lock_parents(session, lb.id)
        session.add(listener)
        session.flush()
        for group in built.in_insert_order():
            session.add_all(group)
            session.flush()
        tls.follow(session, request, lb.project_id)
        body = views.listener(listener, [p.id for p in built.l7policies])
    kick(request, lb.id)
    return respond({"listener": body}, 201)


list_all, show = read_endpoints(Listener, "listeners", "listener", render_many)


async def update(request: Request) -> Response:
    data = parse(ListenerUpdate, await read_root(request, "listener"), "listener")
    changes = data.model_dump(exclude_unset=True)
    tls_changes = tls.listener_nulls({k: v for k, v in changes.items()
                                      if k in tls.LISTENER_FIELDS})
    ctx = context(request)
    with db(request).read() as session:
        listener = find(session, Listener, request.path_params["id"], ctx)
    udp_rules.check_listener_update(changes, listener.protocol)  # Octavia's words first
    state = {**tls.state_of(listener, ("protocol", *tls.LISTENER_FIELDS)), **tls_changes}
    tls.listener_rules(state, update=tls_changes)
    if tls_changes:
        tls.Refs(request, listener.project_id).listener(state, set(tls_changes))
    with db(request).write() as session:
        listener = find(session, Listener, request.path_params["id"], ctx)
        lb = session.get(LoadBalancer, listener.loadbalancer_id)
        assert lb is not None
        builders.check_listener_options(changes, listener.protocol, lb.vip_address)
        if "default_pool_id" in changes:
            _check_default_pool(session, listener.loadbalancer_id, listener.protocol,
                                changes["default_pool_id"])
        lock_parents(session, lb.id)
        mark(listener, Event.UPDATE)
        apply_changes(listener, {k: v for k, v in changes.items()
                                 if k not in tls.LISTENER_FIELDS})
        released = tls.refs_of(listener)
        for key, value in tls_changes.items():
            setattr(listener, key, value)
        tls.follow(session, request, listener.project_id, released)
        body = views.listener(listener)
    kick(request)
    return respond({"listener": body})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        listener = find(session, Listener, request.path_params["id"], context(request))
        lock_parents(session, listener.loadbalancer_id)
        mark(listener, Event.DELETE)
        for policy in l7.policies_of(session, listener.id):  # Octavia deletes them with it
            mark(policy, Event.DELETE)
            for rule in l7.rules_of(session, policy.id):
                if rule.provisioning_status != "PENDING_DELETE":
                    mark(rule, Event.DELETE)
        tls.follow(session, request, listener.project_id, tls.refs_of(listener))
    kick(request, listener.loadbalancer_id)
    return respond(None, 204)


async def stats(request: Request) -> Response:
    with db(request).read() as session:
        listener = find(session, Listener, request.path_params["id"], context(request))
        return respond(views.stats(stats_repo.for_listener(session, listener.id)))


def routes() -> list[Route]:
    base = "/lbaas/listeners"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
        Route(base + "/{id}/stats", stats, methods=["GET"]),
    ]
