"""`/v2/lbaas/l7policies`: Octavia's L7 policies (CRUD), with their position semantics,
action/redirect coupling, locks, quotas and messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import (
    BadRequest,
    NotFound,
    NotImplementedOption,
)
from nslb.api.http import context, parse, read_root, respond
from nslb.api.octavia.common import apply_changes, db, find, kick, list_response, show_response
from nslb.api.octavia.l7rules_check import (
    ACTION_FIELDS,
    check_exclusive,
    check_rule,
    coupled_action,
    refuse_nulls,
    sanitize_policy,
)
from nslb.api.octavia.schemas import L7PolicyCreate, L7PolicyUpdate, L7RuleCreate
from nslb.api.octavia.views import ts
from nslb.db import l7
from nslb.db.query import short
from nslb.db.tree import child_ids
from nslb.lbaas import builders, children
from nslb.lbaas.locks import lock_parents, mark
from nslb.lbaas.quota import enforce
from nslb.model import enums
from nslb.model.resources import L7Policy, L7Rule, Listener, Pool
from nslb.model.status import Event

POLICY_FIELDS = ("action", *ACTION_FIELDS)


def view(policy: L7Policy, rule_ids: list[str]) -> dict[str, Any]:
    return {
        "id": policy.id, "name": policy.name, "description": policy.description,
        "provisioning_status": policy.provisioning_status,
        "operating_status": policy.operating_status,
        "admin_state_up": policy.admin_state_up, "project_id": policy.project_id,
        "tenant_id": policy.project_id, "action": policy.action,
        "listener_id": policy.listener_id, "redirect_pool_id": policy.redirect_pool_id,
        "redirect_url": policy.redirect_url, "redirect_prefix": policy.redirect_prefix,
        "redirect_http_code": policy.redirect_http_code, "position": policy.position,
        # nslb extension (FIXED_RESPONSE); null for Octavia's actions
        "fixed_response_status_code": policy.fixed_response_status_code,
        "fixed_response_content_type": policy.fixed_response_content_type,
        "fixed_response_body": policy.fixed_response_body,
        "rules": [{"id": r} for r in rule_ids], "created_at": ts(policy.created_at),
        "updated_at": ts(policy.updated_at), "tags": list(policy.tags),
    }


def render_many(session: Session, policies: list[L7Policy]) -> list[dict[str, Any]]:
    rules = child_ids(session, L7Rule, "l7policy_id", [p.id for p in policies])
    return [view(p, rules.get(p.id, [])) for p in policies]


def check_listener(listener: Listener) -> None:
    """Octavia: PROMETHEUS listeners take no children (400); the amphora provider serves L7
    on HTTP and TERMINATED_HTTPS listeners only (501)."""
    builders.check_no_children(listener.protocol)
    if listener.protocol not in (enums.ListenerProtocol.HTTP,
                                 enums.ListenerProtocol.TERMINATED_HTTPS):
        raise NotImplementedOption(f"{listener.protocol} protocol listeners do not support "
                                   "L7 policies")


def check_redirect_pool(session: Session, fields: dict[str, Any], listener: Listener) -> None:
    pool_id = fields.get("redirect_pool_id")
    if not pool_id:
        return
    pool = session.get(Pool, pool_id)
    if pool is None or pool.loadbalancer_id != listener.loadbalancer_id \
            or pool.provisioning_status in ("PENDING_DELETE", "DELETED"):
        raise NotFound.of("Pool", short(pool_id))
    allowed = enums.LISTENER_POOL_PROTOCOLS.get(listener.protocol, frozenset())
    if pool.protocol not in allowed:
        raise BadRequest(f"Validation failure: The pool protocol '{pool.protocol}' is invalid "
                         f"while the listener protocol is '{listener.protocol}'.")


def new_rule(data: L7RuleCreate, policy: L7Policy) -> L7Rule:
    fields = data.model_dump(exclude_none=True)
    check_rule(fields)
    return L7Rule(project_id=policy.project_id, l7policy_id=policy.id,
                  loadbalancer_id=policy.loadbalancer_id, type=data.type,
                  compare_type=data.compare_type, key=fields.get("key"), value=data.value,
                  invert=fields.get("invert", False),
                  admin_state_up=fields.get("admin_state_up", True),
                  tags=fields.get("tags", []))


async def create(request: Request) -> Response:
    data = parse(L7PolicyCreate, await read_root(request, "l7policy"), "l7policy")
    ctx = context(request)
    if data.redirect_pool is not None:
        raise BadRequest("Invalid input for field/attribute redirect_pool. redirect_pool is "
                         "only valid in a single-call create; use redirect_pool_id.")
    with db(request).write() as session:
        listener: Listener = find(session, Listener, data.listener_id, ctx)
        check_listener(listener)
        requested = data.model_dump(exclude_none=True, include=set(POLICY_FIELDS))
        check_exclusive(requested)
        fields = sanitize_policy(requested)
        check_redirect_pool(session, fields, listener)
        policy = L7Policy(project_id=listener.project_id, listener_id=listener.id,
                          loadbalancer_id=listener.loadbalancer_id,
                          name=data.name or "", description=data.description or "",
                          admin_state_up=data.admin_state_up is not False,
                          tags=data.tags or [], **fields)
        children.check_rule_count(policy.id, len(data.rules))
        rules = [new_rule(r, policy) for r in data.rules]
        enforce(session, listener.project_id, {L7Policy: 1, L7Rule: len(rules)})
        lock_parents(session, listener.loadbalancer_id, [listener.id])
        session.add(policy)
        session.flush()
        l7.place(session, policy, data.position)
        session.add_all(rules)
        session.flush()
        body = view(policy, [r.id for r in rules])
    kick(request, listener.loadbalancer_id)
    return respond({"l7policy": body}, 201)


async def list_all(request: Request) -> Response:
    return list_response(request, L7Policy, "l7policies", render_many)


async def show(request: Request) -> Response:
    with db(request).read() as session:
        policy = find(session, L7Policy, request.path_params["id"], context(request),
                      "L7 Policy")
        return show_response(request, "l7policy", render_many(session, [policy])[0])


async def update(request: Request) -> Response:
    data = parse(L7PolicyUpdate, await read_root(request, "l7policy"), "l7policy")
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise BadRequest("Invalid L7 Policy arguments: Invalid update options")
    refuse_nulls(changes, ("action", "position"))
    with db(request).write() as session:
        policy = find(session, L7Policy, request.path_params["id"], context(request),
                      "L7 Policy")
        listener = session.get(Listener, policy.listener_id)
        assert listener is not None
        requested = {k: v for k, v in changes.items() if k in POLICY_FIELDS}
        check_exclusive(requested)
        coupled = coupled_action(requested)
        merged = sanitize_policy({**{k: getattr(policy, k) for k in POLICY_FIELDS}, **coupled})
        check_redirect_pool(session, merged, listener)
        lock_parents(session, listener.loadbalancer_id, [listener.id])
        mark(policy, Event.UPDATE)
        apply_changes(policy, {k: v for k, v in changes.items()
                               if k not in (*POLICY_FIELDS, "position")})
        for key, value in merged.items():
            setattr(policy, key, value)
        if "position" in changes:
            l7.place(session, policy, changes["position"])
        body = render_many(session, [policy])[0]
    kick(request)
    return respond({"l7policy": body})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        policy = find(session, L7Policy, request.path_params["id"], context(request),
                      "L7 Policy")
        lock_parents(session, policy.loadbalancer_id, [policy.listener_id])
        mark(policy, Event.DELETE)
        for rule in l7.rules_of(session, policy.id):
            if rule.provisioning_status != "PENDING_DELETE":
                mark(rule, Event.DELETE)
        l7.close_gap(session, policy.listener_id, policy.id)
    kick(request, policy.loadbalancer_id)
    return respond(None, 204)


def routes() -> list[Route]:
    base = "/lbaas/l7policies"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
