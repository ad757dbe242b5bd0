"""HAProxy observation -> Octavia operating statuses; a listener or pool the running data
plane does not report must show as an outage, not as ONLINE (probe finding F4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nslb.amphora.base import Observation
from nslb.db.tree import Tree
from nslb.health.derive import derive
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool


def tree(listener: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
         lb: dict[str, Any] | None = None, hm: bool = True) -> Tree:
    """LB -> listener -> pool with members m0, m1 (+ monitor), all ACTIVE unless told."""
    active = {"provisioning_status": "ACTIVE"}
    lb_obj = LoadBalancer(id="lb", **{**active, **(lb or {})})
    p = Pool(id="pool", loadbalancer_id="lb", **{**active, **(pool or {})})
    li = Listener(id="listener", loadbalancer_id="lb",
                  **{**active, "default_pool_id": "pool", **(listener or {})})
    ms = [Member(id=f"m{i}", pool_id="pool", loadbalancer_id="lb", provisioning_status="ACTIVE")
          for i in range(2)]
    hms = [HealthMonitor(id="hm", pool_id="pool", loadbalancer_id="lb",
                         provisioning_status="ACTIVE")] if hm else []
    return Tree(lb=lb_obj, listeners=[li], pools=[p], members=ms, healthmonitors=hms)


def seen(listener: str | None = "OPEN", pool: str | None = "UP",
         members: tuple[str, str] = ("UP", "UP"), running: bool = True) -> Observation:
    """What haproxy reports; None leaves the object out of `show stat`."""
    if not running:
        return Observation(running=False)
    return Observation(
        running=True,
        listeners={"listener": listener} if listener else {},
        pools={"pool": pool} if pool else {},
        members={f"m{i}": s for i, s in enumerate(members)} if pool else {})


# Trees are built in the test, after the ORM has mapped the classes.
# (name, tree, observation, expected statuses of lb / listener / pool / m0 / m1 / hm)
CASES: list[tuple[str, Callable[[], Tree], Observation, tuple[str, ...]]] = [
    ("all healthy", lambda: tree(), seen(),
     ("ONLINE", "ONLINE", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    ("one member down", lambda: tree(), seen(members=("UP", "DOWN")),
     ("DEGRADED", "ONLINE", "DEGRADED", "ONLINE", "ERROR", "ONLINE")),
    ("all members down", lambda: tree(), seen(pool="DOWN", members=("DOWN", "DOWN")),
     ("ERROR", "ONLINE", "ERROR", "ERROR", "ERROR", "ONLINE")),
    ("listener full", lambda: tree(), seen(listener="FULL"),
     ("DEGRADED", "DEGRADED", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    # the probe: the pool vanished from the config, every request answered 503
    ("pool missing from the data plane", lambda: tree(), seen(pool=None),
     ("ERROR", "ONLINE", "ERROR", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("pool in ERROR provisioning and missing", lambda: tree(pool={"provisioning_status": "ERROR"}),
     seen(pool=None), ("ERROR", "ONLINE", "ERROR", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("listener missing from the data plane", lambda: tree(), seen(listener=None),
     ("ERROR", "ERROR", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    ("haproxy not running", lambda: tree(), seen(running=False),
     ("ERROR", "ERROR", "ERROR", "OFFLINE", "OFFLINE", "OFFLINE")),
    # not an outage: objects not yet rendered, or not meant to serve
    ("pool being created", lambda: tree(pool={"provisioning_status": "PENDING_CREATE"}),
     seen(pool=None), ("ONLINE", "ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("listener being created", lambda: tree(listener={"provisioning_status": "PENDING_CREATE"}),
     seen(listener=None), ("ONLINE", "OFFLINE", "ONLINE", "ONLINE", "ONLINE", "ONLINE")),
    ("pool used by no listener", lambda: tree(listener={"default_pool_id": None}), seen(pool=None),
     ("ONLINE", "ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("listener disabled", lambda: tree(listener={"admin_state_up": False}),
     seen(listener="STOP", pool=None),
     ("ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("pool disabled", lambda: tree(pool={"admin_state_up": False}), seen(pool=None),
     ("ONLINE", "ONLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
    ("load balancer disabled", lambda: tree(lb={"admin_state_up": False}),
     seen(listener="STOP", pool=None),
     ("OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE", "OFFLINE")),
]


@pytest.mark.parametrize(("t", "obs", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_derive(t: Callable[[], Tree], obs: Observation, expected: tuple[str, ...]) -> None:
    out = derive(t(), obs)
    assert tuple(out[k] for k in ("lb", "listener", "pool", "m0", "m1", "hm")) == expected


def test_a_missing_listener_never_reads_online_with_or_without_a_pool() -> None:
    for t in (tree(), tree(listener={"default_pool_id": None})):
        out = derive(t, seen(listener=None))
        assert out["listener"] == "ERROR" and out["lb"] == "ERROR"


def test_no_monitor_members() -> None:
    out = derive(tree(hm=False), seen(members=("no check", "MAINT")))
    assert (out["m0"], out["m1"], out["pool"], out["lb"]) == \
        ("NO_MONITOR", "OFFLINE", "ONLINE", "ONLINE")
