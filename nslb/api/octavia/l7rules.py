"""`/v2/lbaas/l7policies/{l7policy_id}/rules`: Octavia's L7 rules (body root `rule`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import NotFound
from nslb.api.http import context, parse, read_root, respond
from nslb.api.octavia.common import apply_changes, db, find, kick, list_response, show_response
from nslb.api.octavia.l7policies import new_rule
from nslb.api.octavia.l7rules_check import check_rule, refuse_nulls
from nslb.api.octavia.schemas import L7RuleCreate, L7RuleUpdate
from nslb.api.octavia.views import ts
from nslb.db import l7
from nslb.lbaas import children
from nslb.lbaas.locks import lock_policy_and_parents, mark
from nslb.lbaas.quota import enforce
from nslb.model.resources import L7Policy, L7Rule
from nslb.model.status import Event

RULE_FIELDS = ("type", "compare_type", "key", "value", "invert")


def view(rule: L7Rule) -> dict[str, Any]:
    return {
        "id": rule.id, "type": rule.type, "compare_type": rule.compare_type, "key": rule.key,
        "value": rule.value, "invert": rule.invert,
        "provisioning_status": rule.provisioning_status,
        "operating_status": rule.operating_status, "created_at": ts(rule.created_at),
        "updated_at": ts(rule.updated_at), "project_id": rule.project_id,
        "tenant_id": rule.project_id, "admin_state_up": rule.admin_state_up,
        "tags": list(rule.tags),
    }


def _render(_session: Session, rules: list[L7Rule]) -> list[dict[str, Any]]:
    return [view(r) for r in rules]


def _policy(session: Session, request: Request) -> L7Policy:
    policy: L7Policy = find(session, L7Policy, request.path_params["l7policy_id"],
                            context(request), "L7 Policy")
    return policy


def _rule(session: Session, request: Request, policy: L7Policy) -> L7Rule:
    rule = session.get(L7Rule, request.path_params["id"])
    if rule is None or rule.l7policy_id != policy.id:
        raise NotFound.of("L7 Rule", request.path_params["id"])
    return rule


async def create(request: Request) -> Response:
    data = parse(L7RuleCreate, await read_root(request, "rule"), "rule")
    with db(request).write() as session:
        policy = _policy(session, request)
        rule = new_rule(data, policy)
        children.check_rule_count(policy.id, l7.live_rule_count(session, policy.id) + 1)
        enforce(session, policy.project_id, {L7Rule: 1})
        lock_policy_and_parents(session, policy)
        session.add(rule)
        session.flush()
        body = view(rule)
    kick(request)
    return respond({"rule": body}, 201)


async def list_all(request: Request) -> Response:
    with db(request).read() as session:
        policy = _policy(session, request)
    return list_response(request, L7Rule, "rules", _render, fixed={"l7policy_id": policy.id})


async def show(request: Request) -> Response:
    with db(request).read() as session:
        rule = _rule(session, request, _policy(session, request))
        return show_response(request, "rule", view(rule))


async def update(request: Request) -> Response:
    data = parse(L7RuleUpdate, await read_root(request, "rule"), "rule")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("invert", False) is None:
        changes["invert"] = False  # Octavia: a null invert is false
    refuse_nulls(changes, ("type", "compare_type", "value"))
    with db(request).write() as session:
        policy = _policy(session, request)
        rule = _rule(session, request, policy)
        merged = {**{k: getattr(rule, k) for k in RULE_FIELDS},
                  **{k: v for k, v in changes.items() if k in RULE_FIELDS}}
        check_rule(merged)
        lock_policy_and_parents(session, policy)
        mark(rule, Event.UPDATE)
        apply_changes(rule, {k: v for k, v in changes.items() if k not in RULE_FIELDS})
        for key in RULE_FIELDS:
            setattr(rule, key, merged[key])
        body = view(rule)
    kick(request)
    return respond({"rule": body})


async def delete(request: Request) -> Response:
    with db(request).write() as session:
        policy = _policy(session, request)
        rule = _rule(session, request, policy)
        lock_policy_and_parents(session, policy)
        mark(rule, Event.DELETE)
    kick(request)
    return respond(None, 204)


def routes() -> list[Route]:
    base = "/lbaas/l7policies/{l7policy_id}/rules"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base, create, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", update, methods=["PUT"]),
        Route(base + "/{id}", delete, methods=["DELETE"]),
    ]
