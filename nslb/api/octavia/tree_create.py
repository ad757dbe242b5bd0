"""Octavia's fully-populated single-call create: LB -> listeners (-> L7 policies -> rules)
-> pools -> members + HM.

Everything is built in the caller's transaction; any error leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from nslb.api.faults import ValidationFailure
from nslb.api.http import parse
from nslb.api.octavia import construct, l7policies, tls
from nslb.api.octavia import schemas as s
from nslb.api.octavia.healthmonitors import check_type_for_pool
from nslb.api.octavia.l7rules_check import check_exclusive, sanitize_policy
from nslb.db.query import short
from nslb.lbaas import builders, children
from nslb.model import enums
from nslb.model.resources import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)


@dataclass
class Built:
    listeners: list[Listener] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    healthmonitors: list[HealthMonitor] = field(default_factory=list)
    l7policies: list[L7Policy] = field(default_factory=list)
    l7rules: list[L7Rule] = field(default_factory=list)

    def counts(self) -> dict[type, int]:
        return {Listener: len(self.listeners), Pool: len(self.pools),
                Member: len(self.members), HealthMonitor: len(self.healthmonitors),
                L7Policy: len(self.l7policies), L7Rule: len(self.l7rules)}

    def in_insert_order(self) -> list[list[Any]]:
        """Parents before children, as the foreign keys require."""
        return [self.pools, self.listeners, self.l7policies, self.l7rules, self.members,
                self.healthmonitors]


def _add_pool(built: Built, data: s.PoolSingleCreate, lb: LoadBalancer, project: str) -> Pool:
    if not data.name:
        raise ValidationFailure(
            "Pools must be named when creating a fully populated loadbalancer.")
    if any(p.name == data.name for p in built.pools):
        raise ValidationFailure(f"Pool name {short(data.name)} is used more than once.")
    if data.healthmonitor is not None:  # Octavia's 400s come before the provider's 501s
        check_type_for_pool(data.healthmonitor.type, data.protocol)
    pool = construct.new_pool(data, lb, project)
    built.pools.append(pool)
    if data.healthmonitor is not None:
        built.healthmonitors.append(
            construct.new_healthmonitor(data.healthmonitor, pool, project))
    seen: set[tuple[str, int]] = set()
    for member_data in data.members:
        key = (member_data.address, member_data.protocol_port)
        if key in seen:
            raise children.duplicate_member(*key)
        seen.add(key)
        built.members.append(construct.new_member(member_data, pool, project,
                                                 data.healthmonitor is not None,
                                                 lb.vip_address))
    return pool


def _named_pool(built: Built, ref: dict[str, object], lb: LoadBalancer, project: str,
                what: str = "default_pool") -> Pool:
    """A pool given inline, or `{"name": ...}` naming one of the request's `pools`."""
    if set(ref) == {"name"}:
        found = next((p for p in built.pools if p.name == ref["name"]), None)
        if found is None:
            raise ValidationFailure(f"{what} {short(ref['name'])} is not one of the pools.")
        return found
    return _add_pool(built, parse(s.PoolSingleCreate, dict(ref), what), lb, project)


def add_policies(built: Built, listener: Listener, bodies: list[dict[str, Any]],
                  lb: LoadBalancer, project: str) -> None:
    """The listener's L7 policies in `position` order (unpositioned ones after, in the
    order given), numbered 1..N as Octavia's ordering list does, each with its rules."""
    if not bodies:
        return
    l7policies.check_listener(listener)
    policies: list[tuple[int, L7Policy]] = []
    for body in bodies:
        data = parse(s.L7PolicySingleCreate, body, "l7policies")
        if data.redirect_pool_id:
            raise ValidationFailure("redirect_pool_id cannot be used in a single-call create; "
                                    "use redirect_pool.")
        requested = data.model_dump(exclude_none=True, include=set(l7policies.POLICY_FIELDS))
        if data.redirect_pool is not None:
            pool = _named_pool(built, data.redirect_pool, lb, project, "redirect_pool")
            builders.check_pool_for_listener(pool, listener)
            requested["redirect_pool_id"] = pool.id
        check_exclusive(requested)
        policy = L7Policy(project_id=project, listener_id=listener.id,
                          loadbalancer_id=lb.id, name=data.name or "",
                          description=data.description or "",
                          admin_state_up=data.admin_state_up is not False,
                          tags=data.tags or [], **sanitize_policy(requested))
        children.check_rule_count(policy.id, len(data.rules))
        built.l7rules += [l7policies.new_rule(rule, policy) for rule in data.rules]
        policies.append((data.position or len(bodies) + 1, policy))
    policies.sort(key=lambda item: item[0])  # stable: equal positions keep their order
    for number, (_, policy) in enumerate(policies, start=1):
        policy.position = number
        built.l7policies.append(policy)


def _check_default_pool_protocol(built: Built, data: s.ListenerSingleCreate) -> None:
    """The listener/pool protocol rule, checked before the listener is built so that a
    misfit is Octavia's 400 even when the listener's protocol would be a 501."""
    ref = data.default_pool
    if ref is None:
        return
    if set(ref) == {"name"}:
        protocol = next((p.protocol for p in built.pools if p.name == ref["name"]), None)
    else:
        protocol = ref.get("protocol")
    if isinstance(protocol, str):
        builders.check_protocols(data.protocol, protocol)


def build(data: s.LoadBalancerCreate, lb: LoadBalancer, project: str) -> Built:
    """Create the child objects of a tree create (not yet added to a session)."""
    built = Built()
    for pool_data in data.pools:
        _add_pool(built, pool_data, lb, project)
    ports: dict[tuple[str, int], str] = {}  # (layer-4 protocol, port) -> protocol
    for listener_data in data.listeners:
        if listener_data.default_pool_id:
            raise ValidationFailure("default_pool_id cannot be used in a single-call create; "
                                    "use default_pool.")
        port = listener_data.protocol_port
        key = (children.layer4(listener_data.protocol), port)
        if key in ports:
            raise children.duplicate_port(ports[key], port)
        ports[key] = listener_data.protocol
        _check_default_pool_protocol(built, listener_data)
        listener = construct.new_listener(listener_data, lb, project)
        if listener_data.default_pool is not None:
            pool = _named_pool(built, listener_data.default_pool, lb, project)
            builders.check_pool_for_listener(pool, listener)
            listener.default_pool_id = pool.id
        add_policies(built, listener, listener_data.l7policies, lb, project)
        built.listeners.append(listener)
    return built


def check_tls(request: Request, data: s.LoadBalancerCreate, project: str) -> None:
    """Grant and read the key-manager refs of every listener and pool of a tree create,
    before its write transaction (nslb.api.tls says why)."""
    # A listener nslb does not serve is refused by build(), after Octavia's 400s.
    listeners = [_Fields(construct.listener_tls_fields(li)) for li in data.listeners
                 if li.protocol in enums.SUPPORTED_LISTENER_PROTOCOLS]
    pools = [_Fields(construct.pool_tls_fields(p)) for p in data.pools]
    for li in data.listeners:
        inline = [li.default_pool] if li.default_pool and set(li.default_pool) != {"name"} \
            else []
        inline += [body["redirect_pool"] for body in li.l7policies
                   if isinstance(body, dict) and isinstance(body.get("redirect_pool"), dict)
                   and set(body["redirect_pool"]) != {"name"}]
        pools += [_Fields(construct.pool_tls_fields(parse(s.PoolSingleCreate, dict(ref), "pool")))
                  for ref in inline]
    tls.check_new(request, project, listeners, pools)


class _Fields:
    """A dict of fields read like the object it will become."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        return self._fields.get(name)
