"""Queries over one load balancer's tree of objects, and child-id lookups for views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nslb.db import page_reads
from nslb.db.tables import table_of
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
class Tree:
    lb: LoadBalancer
    listeners: list[Listener] = field(default_factory=list)
    pools: list[Pool] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    healthmonitors: list[HealthMonitor] = field(default_factory=list)
    l7policies: list[L7Policy] = field(default_factory=list)
    l7rules: list[L7Rule] = field(default_factory=list)

    def everything(self) -> list[Any]:
        return [self.lb, *self.children()]

    def children(self) -> list[Any]:
        return [*self.listeners, *self.pools, *self.members, *self.healthmonitors,
                *self.l7policies, *self.l7rules]


def _by_lb(session: Session, cls: type, lb_id: str) -> list[Any]:
    table = table_of(cls)
    stmt: Any = select(cls).where(table.c.loadbalancer_id == lb_id).order_by(table.c.created_at,
                                                                         table.c.id)
    return list(session.scalars(stmt))


def load_tree(session: Session, lb: LoadBalancer) -> Tree:
    return Tree(
        lb=lb,
        listeners=_by_lb(session, Listener, lb.id),
        pools=_by_lb(session, Pool, lb.id),
        members=_by_lb(session, Member, lb.id),
        healthmonitors=_by_lb(session, HealthMonitor, lb.id),
        l7policies=_by_lb(session, L7Policy, lb.id),
        l7rules=_by_lb(session, L7Rule, lb.id),
    )


CHUNK = 500  # ids per IN (...): well below every database's bound on bound parameters


def load_trees(session: Session, lb_ids: list[str]) -> dict[str, Tree]:
    """The trees of many LBs with one query per table (per CHUNK of LBs), not five per
    LB: what the health loop reads when a round needs fresh trees."""
    trees: dict[str, Tree] = {}
    lb_table = table_of(LoadBalancer)
    for start in range(0, len(lb_ids), CHUNK):
        chunk = lb_ids[start:start + CHUNK]
        for lb in session.scalars(select(LoadBalancer).where(lb_table.c.id.in_(chunk))):
            trees[lb.id] = Tree(lb=lb)
        for cls, attribute in ((Listener, "listeners"), (Pool, "pools"), (Member, "members"),
                               (HealthMonitor, "healthmonitors"), (L7Policy, "l7policies"),
                               (L7Rule, "l7rules")):
            table = table_of(cls)
            stmt: Any = (select(cls).where(table.c.loadbalancer_id.in_(chunk))
                         .order_by(table.c.created_at, table.c.id))
            for obj in session.scalars(stmt):
                tree = trees.get(obj.loadbalancer_id)
                if tree is not None:
                    getattr(tree, attribute).append(obj)
    return trees


def lock(session: Session, cls: type, ident: str) -> Any:
    """The row, locked for update on databases that lock rows (SQLite locks the file)."""
    return session.get(cls, ident, with_for_update=True)


def child_ids(session: Session, cls: type, parent_column: str,
              parents: list[str]) -> dict[str, list[str]]:
    """parent id -> ids of its children of `cls`, in creation order (db/page_reads.py)."""
    return page_reads.child_ids(session, cls, parent_column, parents)


def count_by_project(session: Session, cls: type, project_id: str) -> int:
    table = table_of(cls)
    stmt = select(func.count()).select_from(table).where(table.c.project_id == project_id)
    return int(session.scalar(stmt) or 0)


def count_in_lb(session: Session, cls: type, lb_id: str) -> int:
    """Objects of `cls` in one load balancer (what its haproxy must hold descriptors for)."""
    table = table_of(cls)
    stmt = select(func.count()).select_from(table).where(table.c.loadbalancer_id == lb_id)
    return int(session.scalar(stmt) or 0)


def listeners_using_pool(session: Session, pool_ids: list[str]) -> dict[str, list[str]]:
    return child_ids(session, Listener, "default_pool_id", pool_ids)


def healthmonitor_of(session: Session, pool_ids: list[str]) -> dict[str, str]:
    return {pool: hms[0] for pool, hms in child_ids(session, HealthMonitor, "pool_id",
                                                     pool_ids).items()}
