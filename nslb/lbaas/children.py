"""What a load balancer's objects may hold, in Octavia's words: one listener per layer-4
protocol and port, one default pool per listener, one member per address and port in a
pool, one health monitor per pool, at most 50 rules per L7 policy, no delete of a pool an
L7 policy redirects to, and no delete of a load balancer with children unless it
cascades."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db import l7, tree
from nslb.db.tables import listener as listener_table
from nslb.db.tables import member as member_table
from nslb.lbaas.errors import Conflict, ValidationFailure
from nslb.model import enums
from nslb.model.resources import Listener

MAX_RULES = 50  # Octavia's MAX_L7RULES_PER_L7POLICY


def duplicate_port(protocol: str, port: int) -> Conflict:
    """Octavia's DuplicateListenerEntry, naming the protocol already on the port."""
    return Conflict(f"Another Listener on this Load Balancer is already using protocol "
                    f"{protocol} and protocol_port {port}")


def layer4(protocol: str) -> str:
    """The transport a listener protocol takes its port on (HTTP, HTTPS... are TCP)."""
    return enums.L4_PROTOCOL.get(protocol, protocol)


def check_port_free(session: Session, lb_id: str, protocol: str, port: int) -> None:
    """One listener per layer-4 protocol and port: TCP 53 and UDP 53 may share an LB,
    HTTP 80 and TCP 80 may not."""
    stmt = select(listener_table.c.protocol).where(listener_table.c.loadbalancer_id == lb_id,
                                                   listener_table.c.protocol_port == port)
    for existing in session.execute(stmt):
        if layer4(existing.protocol) == layer4(protocol):
            raise duplicate_port(existing.protocol, port)


def check_no_default_pool(listener: Listener) -> None:
    """A listener has at most one default pool."""
    if listener.default_pool_id:
        raise Conflict("This listener already has a default pool")


def duplicate_member(address: str, port: int) -> Conflict:
    """Octavia's DuplicateMemberEntry."""
    return Conflict(f"Another member on this pool is already using ip {address} "
                    f"on protocol_port {port}")


def check_member_free(session: Session, pool_id: str, address: str, port: int) -> None:
    """One member per address and port in a pool."""
    stmt = select(member_table.c.id).where(member_table.c.pool_id == pool_id,
                                           member_table.c.address == address,
                                           member_table.c.protocol_port == port)
    if session.execute(stmt).first() is not None:
        raise duplicate_member(address, port)


def check_batch_distinct(members: list[tuple[str, int]]) -> None:
    """A member batch names each address and port once."""
    if len(set(members)) != len(members):
        raise ValidationFailure("Duplicate address and protocol_port in the member list.")


def check_no_monitor(session: Session, pool_id: str) -> None:
    """Octavia's DuplicateHealthMonitor: a pool has at most one health monitor."""
    if tree.healthmonitor_of(session, [pool_id]):
        raise Conflict("This pool already has a health monitor")


def check_rule_count(policy_id: str, count: int) -> None:
    """Octavia's TooManyL7RulesOnL7Policy: `count` rules would be more than allowed."""
    if count > MAX_RULES:
        raise Conflict(f"Too many rules on L7 policy {policy_id}")


def check_pool_unused(session: Session, pool_id: str) -> None:
    """A pool an L7 policy redirects to is not deleted under it."""
    using = l7.policies_using_pool(session, pool_id)
    if using:
        raise Conflict(f"Pool {pool_id} is in use by L7 policy {using[0]}")


def check_deletable(lb_id: str, has_children: bool, cascade: bool) -> None:
    """A load balancer with listeners or pools is deleted only with cascade."""
    if has_children and not cascade:
        raise ValidationFailure(f"Cannot delete Load Balancer {lb_id} - it has children")
