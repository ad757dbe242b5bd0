"""Pure mapping of an HAProxy observation onto Octavia operating statuses.

Follows Octavia's health manager (update_health): listeners OPEN -> ONLINE, FULL ->
DEGRADED; pools UP -> ONLINE, DOWN -> ERROR (and the LB ERROR); members UP -> ONLINE, DOWN ->
ERROR (pool and LB DEGRADED), DRAIN -> DRAINING, MAINT -> OFFLINE, no check -> NO_MONITOR.
Anything administratively down is OFFLINE.
"""

from __future__ import annotations

from nslb.amphora.base import Observation
from nslb.db.tree import Tree
from nslb.model.enums import OperatingStatus as O

MEMBER = {"UP": O.ONLINE, "DOWN": O.ERROR, "DRAIN": O.DRAINING, "MAINT": O.OFFLINE,
          "no check": O.NO_MONITOR, "NOLB": O.DRAINING}
LISTENER = {"OPEN": O.ONLINE, "FULL": O.DEGRADED}


def derive(t: Tree, obs: Observation) -> dict[str, str]:
    """object id -> operating status for every object of the LB."""
    out: dict[str, str] = {}
    lb_up = t.lb.admin_state_up
    lb_status = O.ONLINE if obs.running else O.ERROR
    for li in t.listeners:
        status = LISTENER.get(obs.listeners.get(li.id, ""), O.OFFLINE)
        out[li.id] = status if lb_up and li.admin_state_up else O.OFFLINE
        if out[li.id] == O.DEGRADED and lb_status == O.ONLINE:
            lb_status = O.DEGRADED
    for pool in t.pools:
        hm = next((h for h in t.healthmonitors if h.pool_id == pool.id), None)
        if hm is not None:
            out[hm.id] = O.ONLINE if hm.admin_state_up and pool.admin_state_up else O.OFFLINE
        if not (lb_up and pool.admin_state_up):
            out[pool.id] = O.OFFLINE
            out.update({m.id: O.OFFLINE for m in t.members if m.pool_id == pool.id})
            continue
        pool_status = O.ERROR if obs.pools.get(pool.id) == "DOWN" else O.ONLINE
        if pool_status == O.ERROR:
            lb_status = O.ERROR
        for m in (m for m in t.members if m.pool_id == pool.id):
            status = MEMBER.get(obs.members.get(m.id, ""), O.OFFLINE)
            out[m.id] = status if m.admin_state_up else O.OFFLINE
            if out[m.id] == O.ERROR:
                if pool_status == O.ONLINE:
                    pool_status = O.DEGRADED
                if lb_status == O.ONLINE:
                    lb_status = O.DEGRADED
        out[pool.id] = pool_status
    out[t.lb.id] = lb_status if lb_up else O.OFFLINE
    return out
