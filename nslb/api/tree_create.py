"""Octavia's fully-populated single-call create: LB -> listeners -> pools -> members + HM.

Everything is built in the caller's transaction; any error leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nslb.api import builders
from nslb.api import schemas as s
from nslb.api.faults import Conflict, ValidationFailure
from nslb.api.http import parse
from nslb.db.query import short
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool


@dataclass
class Built:
    listeners: list[Listener] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    healthmonitors: list[HealthMonitor] = field(default_factory=list)

    def counts(self) -> dict[type, int]:
        return {Listener: len(self.listeners), Pool: len(self.pools),
                Member: len(self.members), HealthMonitor: len(self.healthmonitors)}

    def in_insert_order(self) -> list[list[Any]]:
        """Parents before children, as the foreign keys require."""
        return [self.pools, self.listeners, self.members, self.healthmonitors]


def _add_pool(built: Built, data: s.PoolSingleCreate, lb: LoadBalancer, project: str) -> Pool:
    if not data.name:
        raise ValidationFailure(
            "Pools must be named when creating a fully populated loadbalancer.")
    if any(p.name == data.name for p in built.pools):
        raise ValidationFailure(f"Pool name {short(data.name)} is used more than once.")
    pool = builders.new_pool(data, lb, project)
    built.pools.append(pool)
    if data.healthmonitor is not None:
        built.healthmonitors.append(builders.new_healthmonitor(data.healthmonitor, pool, project))
    seen: set[tuple[str, int]] = set()
    for member_data in data.members:
        key = (member_data.address, member_data.protocol_port)
        if key in seen:
            raise Conflict(f"Another member on this pool is already using ip "
                           f"{key[0]} on protocol_port {key[1]}")
        seen.add(key)
        built.members.append(builders.new_member(member_data, pool, project,
                                                 data.healthmonitor is not None))
    return pool


def _default_pool(built: Built, ref: dict[str, object], lb: LoadBalancer,
                  project: str) -> Pool:
    if set(ref) == {"name"}:
        found = next((p for p in built.pools if p.name == ref["name"]), None)
        if found is None:
            raise ValidationFailure(f"default_pool {short(ref['name'])} is not one of the "
                                    "pools.")
        return found
    return _add_pool(built, parse(s.PoolSingleCreate, dict(ref), "default_pool"), lb, project)


def build(data: s.LoadBalancerCreate, lb: LoadBalancer, project: str) -> Built:
    """Create the child objects of a tree create (not yet added to a session)."""
    built = Built()
    for pool_data in data.pools:
        _add_pool(built, pool_data, lb, project)
    ports: dict[int, str] = {}
    for listener_data in data.listeners:
        if listener_data.default_pool_id:
            raise ValidationFailure("default_pool_id cannot be used in a single-call create; "
                                    "use default_pool.")
        port = listener_data.protocol_port
        if port in ports:
            raise Conflict("Another Listener on this Load Balancer is already using "
                           f"protocol {ports[port]} and protocol_port {port}")
        ports[port] = listener_data.protocol
        listener = builders.new_listener(listener_data, lb, project)
        if listener_data.default_pool is not None:
            pool = _default_pool(built, listener_data.default_pool, lb, project)
            builders.check_pool_for_listener(pool, listener)
            listener.default_pool_id = pool.id
        built.listeners.append(listener)
    return built
