"""`/v2/lbaas/loadbalancers`: CRUD, cascade delete, the status tree, stats and failover."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Forbidden, NotImplementedOption
from nslb.api.http import context, parse, read_root, respond
from nslb.api.octavia import (
    availabilityzones,
    flavors,
    l7policies,
    l7rules,
    tls,
    tree_create,
    views,
)
from nslb.api.octavia.common import apply_changes, db, find, kick, read_endpoints
from nslb.api.octavia.schemas import LoadBalancerCreate, LoadBalancerUpdate
from nslb.api.octavia.view_cache import ViewCache, is_record
from nslb.db import amphorae, tree
from nslb.db import stats as stats_repo
from nslb.db.query import short
from nslb.lbaas import builders, children
from nslb.lbaas.capacity import ensure_room
from nslb.lbaas.locks import lock_lb, mark
from nslb.lbaas.quota import enforce
from nslb.lbaas.vip import allocate_vip, plug_member_subnet
from nslb.model.resources import L7Policy, Listener, LoadBalancer, Pool
from nslb.model.status import FAILOVER_FROM, Event

PROVIDERS = ("amphora", "octavia")


_VIEWS = ViewCache()


def render_many(session: Session, lbs: list[LoadBalancer]) -> list[dict[str, Any]]:
    """The views of `lbs`; a page of plain records reuses the views of unchanged rows
    (api/octavia/view_cache.py)."""
    lb_ids = [lb.id for lb in lbs]
    listeners = tree.child_ids(session, Listener, "loadbalancer_id", lb_ids)
    pools = tree.child_ids(session, Pool, "loadbalancer_id", lb_ids)
    if is_record(lbs):
        return _VIEWS.render(lbs, views.loadbalancer, (listeners, []), (pools, []))
    return [views.loadbalancer(lb, listeners.get(lb.id, []), pools.get(lb.id, [])) for lb in lbs]


def render_full(t: tree.Tree) -> dict[str, Any]:
    """The fully-populated response of a single-call create."""
    from nslb.api.octavia.pools import render_full as pool_full

    body = views.loadbalancer(t.lb, [], [])
    full_listeners = []
    for li in t.listeners:
        policies = sorted((p for p in t.l7policies if p.listener_id == li.id),
                          key=lambda p: p.position)
        item = views.listener(li)
        del item["loadbalancers"]
        item["l7policies"] = [_policy_full(p, t) for p in policies]
        full_listeners.append(item)
    body["listeners"] = full_listeners
    body["pools"] = [pool_full(p, t) for p in t.pools]
    return body


def _policy_full(policy: L7Policy, t: tree.Tree) -> dict[str, Any]:
    """Octavia's L7PolicyFullResponse: the rules inline."""
    rules = [r for r in t.l7rules if r.l7policy_id == policy.id]
    body = l7policies.view(policy, [])
    body["rules"] = [l7rules.view(r) for r in rules]
    return body


def _refuse_unsupported(data: LoadBalancerCreate) -> None:
    if data.provider is not None and data.provider not in PROVIDERS:
        raise BadRequest(f"Provider '{short(data.provider)}' is not enabled.")
    unsupported = {
        "additional_vips": data.additional_vips, "vip_sg_ids": data.vip_sg_ids,
        "vip_qos_policy_id": data.vip_qos_policy_id,
    }
    for name, value in unsupported.items():
        if value:
            raise NotImplementedOption(name)
    if data.vip_vnic_type not in (None, "normal"):
        raise NotImplementedOption(f"vip_vnic_type {short(data.vip_vnic_type)}")


async def create(request: Request) -> Response:
    data = parse(LoadBalancerCreate, await read_root(request, "loadbalancer"), "loadbalancer")
    _refuse_unsupported(data)
    ctx = context(request)
    project = ctx.require_project(data.project_id or data.tenant_id)
    fields = data.model_dump(exclude_none=True, include={"name", "description",
                                                          "admin_state_up", "tags"})
    lb = LoadBalancer(project_id=project, **fields)
    tree_create.check_tls(request, data, project)  # grants: before the write transaction
    with db(request).write() as session:
        choice = flavors.for_load_balancer(session, data.flavor_id, data.provider,
                                           request.app.state.settings.topology)
        lb.flavor_id, lb.provider = choice.flavor_id, choice.provider
        zone = availabilityzones.for_load_balancer(session, data.availability_zone)
        lb.availability_zone = data.availability_zone
        port, subnet, network = allocate_vip(session, data, ctx, project, lb.id)
        availabilityzones.check_vip_network(zone, network.id)
        lb.vip_port_id, lb.vip_subnet_id, lb.vip_network_id = port.id, subnet.id, network.id
        lb.vip_address = port.fixed_ips[0]["ip_address"]
        built = tree_create.build(data, lb, project)
        for member in built.members:
            plug_member_subnet(session, lb.id, subnet.id, member.address, member.subnet_id,
                               ctx, project)
        enforce(session, project, {LoadBalancer: 1, **built.counts()})
        ensure_room(session, lb.id, len(built.members), len(built.listeners))
        session.add(lb)
        session.flush()
        session.add_all(builders.new_amphorae(lb, choice.topology))
        for group in built.in_insert_order():  # no ORM relationships: order by hand for FKs
            session.add_all(group)
            session.flush()
        tls.follow(session, request, project)
        if data.listeners or data.pools:
            body = render_full(tree.load_tree(session, lb))
        else:
            body = views.loadbalancer(lb, [], [])
    kick(request, lb.id)
    return respond({"loadbalancer": body}, 201)


list_all, show = read_endpoints(LoadBalancer, "loadbalancers", "loadbalancer", render_many)


async def update(request: Request) -> Response:
    data = parse(LoadBalancerUpdate, await read_root(request, "loadbalancer"), "loadbalancer")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("vip_qos_policy_id") or changes.get("vip_sg_ids"):
        raise NotImplementedOption("vip_qos_policy_id" if changes.get("vip_qos_policy_id")
                                   else "vip_sg_ids")
    changes.pop("vip_qos_policy_id", None)
    changes.pop("vip_sg_ids", None)
    with db(request).write() as session:
        lb = find(session, LoadBalancer, request.path_params["id"], context(request))
        lock_lb(session, lb.id)
        apply_changes(lb, changes)
        body = render_many(session, [lb])[0]
    kick(request, lb.id)
    return respond({"loadbalancer": body})


async def delete(request: Request) -> Response:
    cascade = request.query_params.get("cascade", "").lower() == "true"
    with db(request).write() as session:
        lb = find(session, LoadBalancer, request.path_params["id"], context(request))
        t = tree.load_tree(session, lb)
        children.check_deletable(lb.id, bool(t.children()), cascade)
        lock_lb(session, lb.id, Event.DELETE)
        for child in t.children():
            mark(child, Event.DELETE)
        tls.follow(session, request, lb.project_id,
                   {ref for child in t.children() for ref in tls.refs_of(child)})
    kick(request, lb.id)
    return respond(None, 204)


def _status_pool(pool: Pool, t: tree.Tree) -> dict[str, Any]:
    item: dict[str, Any] = {"id": pool.id, "name": pool.name or "",
                            "provisioning_status": pool.provisioning_status,
                            "operating_status": pool.operating_status}
    hm = next((h for h in t.healthmonitors if h.pool_id == pool.id), None)
    if hm is not None:
        item["health_monitor"] = {"id": hm.id, "name": hm.name or "", "type": hm.type,
                                  "provisioning_status": hm.provisioning_status,
                                  "operating_status": hm.operating_status}
    item["members"] = [
        {"id": m.id, "name": m.name or "", "operating_status": m.operating_status,
         "provisioning_status": m.provisioning_status, "address": m.address,
         "protocol_port": m.protocol_port}
        for m in t.members if m.pool_id == pool.id
    ]
    return item


async def status(request: Request) -> Response:
    with db(request).read() as session:
        lb = find(session, LoadBalancer, request.path_params["id"], context(request))
        t = tree.load_tree(session, lb)
    pools = {p.id: p for p in t.pools}
    listeners = [
        {"id": li.id, "name": li.name or "", "operating_status": li.operating_status,
         "provisioning_status": li.provisioning_status,
         "pools": [_status_pool(pools[li.default_pool_id], t)]
         if li.default_pool_id in pools else []}
        for li in t.listeners
    ]
    body = {"id": lb.id, "name": lb.name or "", "operating_status": lb.operating_status,
            "provisioning_status": lb.provisioning_status, "listeners": listeners}
    return respond({"statuses": {"loadbalancer": body}})


async def stats(request: Request) -> Response:
    with db(request).read() as session:
        lb = find(session, LoadBalancer, request.path_params["id"], context(request))
        totals = stats_repo.for_loadbalancer(session, lb.id)
    return respond(views.stats(totals))


async def failover(request: Request) -> Response:
    """Replace every amphora of the LB: a SINGLE LB is rebuilt in place, a pair's standby
    is replaced before the amphora holding the VIP (nslb/worker/failover.py)."""
    ctx = context(request)
    if not ctx.is_admin:
        raise Forbidden("Policy does not allow this request to be performed.")
    with db(request).write() as session:
        lb = find(session, LoadBalancer, request.path_params["id"], ctx)
        # Octavia's LB failover starts from ACTIVE or ERROR (the transition table takes
        # ERROR -> PENDING_UPDATE like any update).
        lock_lb(session, lb.id, allowed=FAILOVER_FROM)
        replaced = amphorae.of_lb(session, lb.id)
        amphorae.request_failover(session, replaced)
    request.app.state.metrics.failovers.labels("api").inc(len(replaced))
    kick(request, lb.id)
    return Response(status_code=202)


def routes() -> list[Route]:
    base = "/lbaas/loadbalancers"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
        Route(base + "/{id}/status", status, methods=["GET"]),
        Route(base + "/{id}/stats", stats, methods=["GET"]),
        Route(base + "/{id}/failover", failover, methods=["PUT"]),
    ]

