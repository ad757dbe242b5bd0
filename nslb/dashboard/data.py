"""What the dashboard shows: load balancers and their trees from the database, scoped as
the API scopes them (Context.scope(): a member sees its project, an admin or global
observer all), and live figures from the health loop's board.

Everything here is plain data for a template or a JSON answer; names stay raw strings,
escaped where they are written (Jinja's autoescape, the script's textContent).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.api.context import Context
from nslb.dashboard import history
from nslb.db import amphorae as amphora_repo
from nslb.db.tables import load_balancer as lb_table
from nslb.db.tree import Tree, load_tree
from nslb.health.live import LiveBoard
from nslb.model.resources import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)
from nslb.netns.names import namespace_name

MAX_LISTED = 1000  # load balancers on the list page
MAX_EVENTS = 30


def label(obj: Any) -> str:
    """How an object is named on the page: its name, else what identifies it."""
    if obj.name:
        return str(obj.name)
    if isinstance(obj, Listener):
        return f"{obj.protocol}:{obj.protocol_port}"
    if isinstance(obj, Member):
        return f"{obj.address}:{obj.protocol_port}"
    if isinstance(obj, HealthMonitor):
        return obj.type
    if isinstance(obj, L7Policy):
        return f"{obj.action} #{obj.position}"
    if isinstance(obj, L7Rule):
        return f"{obj.type} {obj.compare_type}"
    return str(obj.id)


# --- the list ---------------------------------------------------------------------------


def visible_lbs(session: Session, ctx: Context) -> list[LoadBalancer]:
    """The load balancers the viewer may read, oldest first (at most MAX_LISTED)."""
    stmt: Any = select(LoadBalancer).where(lb_table.c.provisioning_status != "DELETED")
    scope = ctx.scope()
    if scope is not None:
        stmt = stmt.where(lb_table.c.project_id == scope)
    stmt = stmt.order_by(lb_table.c.created_at, lb_table.c.id).limit(MAX_LISTED)
    return list(session.scalars(stmt))


def lb_row(lb: LoadBalancer) -> dict[str, Any]:
    return {"id": lb.id, "name": lb.name, "project_id": lb.project_id,
            "vip_address": lb.vip_address, "provisioning_status": lb.provisioning_status,
            "operating_status": lb.operating_status}


def visible_lb(session: Session, ctx: Context, lb_id: str) -> LoadBalancer | None:
    """The load balancer if the viewer may read it: another project's answers as a missing
    one does."""
    lb = session.get(LoadBalancer, lb_id)
    scope = ctx.scope()
    if lb is None or lb.provisioning_status == "DELETED":
        return None
    if scope is not None and lb.project_id != scope:
        return None
    return lb


# --- the status tree ----------------------------------------------------------------------


@dataclass
class PoolView:
    pool: Pool
    members: list[Member]
    monitor: HealthMonitor | None


@dataclass
class PolicyView:
    policy: L7Policy
    rules: list[L7Rule]
    redirect_pool: str  # the label of the pool it sends to, "" for other actions


@dataclass
class ListenerView:
    listener: Listener
    policies: list[PolicyView]
    pools: list[PoolView]  # the default pool first, then pools only its policies use


@dataclass
class TreeView:
    """Octavia's status tree: LB -> listeners (-> L7 policies) -> pools -> members and
    health monitor; pools no listener uses are listed on their own."""

    lb: LoadBalancer
    listeners: list[ListenerView] = field(default_factory=list)
    unattached: list[PoolView] = field(default_factory=list)


def tree_view(t: Tree) -> TreeView:
    pools = {p.id: PoolView(p, [m for m in t.members if m.pool_id == p.id],
                            next((h for h in t.healthmonitors if h.pool_id == p.id), None))
             for p in t.pools}
    view, used = TreeView(t.lb), set[str]()
    for li in t.listeners:
        policies = sorted((p for p in t.l7policies if p.listener_id == li.id),
                          key=lambda p: p.position)
        pool_ids = [li.default_pool_id] + [p.redirect_pool_id for p in policies]
        mine = [pools[i] for i in dict.fromkeys(pool_ids) if i in pools]
        used.update(v.pool.id for v in mine)
        view.listeners.append(ListenerView(li, [
            PolicyView(p, [r for r in t.l7rules if r.l7policy_id == p.id],
                       label(pools[p.redirect_pool_id].pool)
                       if p.redirect_pool_id in pools else "")
            for p in policies], mine))
    view.unattached = [v for v in pools.values() if v.pool.id not in used]
    return view


def statuses(t: Tree) -> dict[str, list[str]]:
    """object id -> [provisioning status, operating status] for every object shown."""
    return {o.id: [o.provisioning_status, o.operating_status] for o in t.everything()}


# --- amphorae -------------------------------------------------------------------------------


def amphorae(session: Session, lb_id: str, live: LiveBoard | None) -> list[dict[str, Any]]:
    """The LB's amphorae and where they run: host, namespace, VRRP address, and what the
    latest health round saw (haproxy running, the VRRP state keepalived reports)."""
    seen = live.seen(lb_id) if live is not None else None
    out = []
    for amp in amphora_repo.of_lb(session, lb_id):
        state = seen.amphorae.get(amp.id) if seen is not None else None
        out.append({"id": amp.id, "role": amp.role or "", "status": amp.status,
                    "host": amp.compute_id or "", "namespace": namespace_name(amp.id),
                    "vrrp_ip": amp.vrrp_ip or "",
                    "vrrp_state": (state.vrrp or "-") if state is not None else "",
                    "running": ("yes" if state.running else "no") if state is not None
                    else ""})
    return out


# --- events -------------------------------------------------------------------------------


def events(session: Session, t: Tree, with_amphorae: bool) -> list[dict[str, Any]]:
    """Recent events of the LB, newest first, from the events outbox (dashboard/history.py):
    what changed, failed, failed over or moved in operating status, with when (UTC)."""
    labels = {obj.id: label(obj) for obj in t.everything()}
    return history.recent(session, t, labels, with_amphorae, MAX_EVENTS)


# --- one LB, as the page's script polls it ------------------------------------------------


def traffic(t: Tree, live: LiveBoard | None) -> dict[str, Any] | None:
    """Cumulative counters of each listener and member as the health loop last saw them:
    id -> [requests, open connections, errors]; the script turns them into rates."""
    seen = live.seen(t.lb.id) if live is not None else None
    if seen is None:
        return None
    shown = {o.id for o in (*t.listeners, *t.members)}
    return {"at": seen.at,
            "counters": {k: [v.requests, v.connections, v.errors]
                         for k, v in seen.traffic.items() if k in shown}}


def detail(session: Session, lb: LoadBalancer, live: LiveBoard | None,
           with_amphorae: bool) -> dict[str, Any]:
    """The JSON the LB page polls; amphorae (in the list and in events) only for viewers
    the policy lets read them."""
    t = load_tree(session, lb)
    return {"at": time.time(), "loadbalancer": lb_row(lb), "objects": statuses(t),
            "traffic": traffic(t, live),
            "amphorae": amphorae(session, lb.id, live) if with_amphorae else None,
            "events": events(session, t, with_amphorae)}
