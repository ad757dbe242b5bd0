"""Pure mapping of an HAProxy observation onto Octavia operating statuses.

Follows Octavia's health manager (update_health): listeners OPEN -> ONLINE, FULL ->
DEGRADED; pools UP -> ONLINE, DOWN -> ERROR (and the LB ERROR); members UP -> ONLINE, DOWN ->
ERROR (pool and LB DEGRADED), DRAIN -> DRAINING, MAINT -> OFFLINE, no check -> NO_MONITOR.
Anything administratively down is OFFLINE.

Where Octavia reads a silent amphora as OFFLINE, nslb reads it as an outage: a listener or
pool that should be served (it is provisioned, enabled, and not just being created) but that
the data plane does not report is ERROR, and so is the LB, because every request to that
listener fails. Reporting ONLINE there once hid a listener left without its backend.
"""

from __future__ import annotations

from nslb.amphora.base import Observation
from nslb.db.tree import Tree
from nslb.model.enums import OperatingStatus as O
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import Listener, Pool

MEMBER = {"UP": O.ONLINE, "DOWN": O.ERROR, "DRAIN": O.DRAINING, "MAINT": O.OFFLINE,
          "no check": O.NO_MONITOR, "NOLB": O.DRAINING}
LISTENER = {"OPEN": O.ONLINE, "FULL": O.DEGRADED}
# Provisioning statuses of objects the running data plane is expected to hold. A
# PENDING_CREATE object is not rendered yet; PENDING_DELETE ones are already left out.
EXPECTED = frozenset({P.ACTIVE, P.PENDING_UPDATE, P.ERROR})
SEVERITY = {O.ONLINE: 0, O.DEGRADED: 1, O.ERROR: 2}


def _worse(current: O, other: O) -> O:
    return other if SEVERITY.get(other, 0) > SEVERITY.get(current, 0) else current


def _expected(obj: Listener | Pool) -> bool:
    return obj.admin_state_up and obj.provisioning_status in EXPECTED


def _listener(li: Listener, obs: Observation, lb_up: bool) -> O:
    if not (lb_up and li.admin_state_up):
        return O.OFFLINE
    reported = obs.listeners.get(li.id)
    if reported is None:
        return O.ERROR if _expected(li) else O.OFFLINE
    return LISTENER.get(reported, O.OFFLINE)


def _serving_pools(t: Tree) -> set[str]:
    """Pools that a listener which should be serving sends its traffic to."""
    return {li.default_pool_id for li in t.listeners
            if li.default_pool_id and t.lb.admin_state_up and _expected(li)}


def derive(t: Tree, obs: Observation) -> dict[str, str]:
    """object id -> operating status for every object of the LB."""
    out: dict[str, str] = {}
    lb_up = t.lb.admin_state_up
    lb_status = O.ONLINE if obs.running else O.ERROR
    for li in t.listeners:
        out[li.id] = _listener(li, obs, lb_up)
        if out[li.id] in (O.DEGRADED, O.ERROR):
            lb_status = _worse(lb_status, O(out[li.id]))
    serving = _serving_pools(t)
    for pool in t.pools:
        pool_status, members = _pool(t, pool, obs, serving)
        out[pool.id] = pool_status
        out.update(members)
        hm = next((h for h in t.healthmonitors if h.pool_id == pool.id), None)
        if hm is not None:
            watching = hm.admin_state_up and pool.admin_state_up and pool.id in obs.pools
            out[hm.id] = O.ONLINE if watching else O.OFFLINE
        if pool_status == O.ERROR:
            lb_status = O.ERROR
        elif pool_status == O.DEGRADED:
            lb_status = _worse(lb_status, O.DEGRADED)
    out.update(_l7(t, lb_up))
    out[t.lb.id] = lb_status if lb_up else O.OFFLINE
    return out


def _l7(t: Tree, lb_up: bool) -> dict[str, str]:
    """L7 policies and rules are ONLINE while enabled on an enabled listener (Octavia
    reports no health for them), OFFLINE otherwise."""
    out: dict[str, str] = {}
    listeners = {li.id: li for li in t.listeners}
    policies = {}
    for policy in t.l7policies:
        listener = listeners.get(policy.listener_id)
        up = lb_up and listener is not None and listener.admin_state_up and policy.admin_state_up
        policies[policy.id] = up
        out[policy.id] = O.ONLINE if up else O.OFFLINE
    for rule in t.l7rules:
        up = policies.get(rule.l7policy_id, False) and rule.admin_state_up
        out[rule.id] = O.ONLINE if up else O.OFFLINE
    return out


def _pool(t: Tree, pool: Pool, obs: Observation,
          serving: set[str]) -> tuple[O, dict[str, str]]:
    """The pool's status and its members'."""
    mine = [m for m in t.members if m.pool_id == pool.id]
    if not (t.lb.admin_state_up and pool.admin_state_up):
        return O.OFFLINE, {m.id: O.OFFLINE for m in mine}
    reported = obs.pools.get(pool.id)
    if reported is None:
        # Not in the running data plane: an outage if a listener should be sending
        # traffic here (that listener has no usable backend), else just not served.
        status = O.ERROR if pool.id in serving and _expected(pool) else O.OFFLINE
        return status, {m.id: O.OFFLINE for m in mine}
    pool_status = O.ERROR if reported == "DOWN" else O.ONLINE
    members: dict[str, str] = {}
    for m in mine:
        status = MEMBER.get(obs.members.get(m.id, ""), O.OFFLINE)
        members[m.id] = status if m.admin_state_up else O.OFFLINE
        if members[m.id] == O.ERROR and pool_status == O.ONLINE:
            pool_status = O.DEGRADED
    return pool_status, members
