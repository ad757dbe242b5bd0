"""Parsing of haproxy CLI answers and the runtime-API-or-reload decision (pure)."""

from __future__ import annotations

import pytest

from nslb.amphora.runtime_api import (
    RuntimeCommand,
    master_failed_reloads,
    normalise_status,
    parse_stat,
    runtime_commands,
    summarise_stat,
    worker_pids,
)
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render import render_haproxy
from tests.unit.render_cases import (
    http_full,
    listener,
    member_id,
    members,
    monitor,
    snapshot,
)
from tests.unit.render_cases import pool as rc_pool

STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,\
wretr,wredis,status,weight,act,bck,type
L1,FRONTEND,,,3,5,100,42,1000,2000,0,0,7,,,,,OPEN,,,,0
P1,M1,0,0,0,1,,4,0,0,,0,,0,0,0,0,UP 1/3,1,1,0,2
P1,M2,0,0,0,1,,4,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0,2
P1,M3,0,0,0,1,,4,0,0,,0,,0,0,0,0,MAINT (via P1/M1),1,1,0,2
P1,M4,0,0,0,1,,4,0,0,,0,,0,0,0,0,no check,1,1,0,2
P1,BACKEND,0,0,0,1,,4,0,0,,0,,0,0,0,0,UP,1,1,0,1
"""


def test_stat_summary_normalises_transitional_states_and_reads_counters() -> None:
    summary = summarise_stat(parse_stat(STAT))
    assert summary.listeners == {"L1": "OPEN"}
    assert summary.members == {"M1": "UP", "M2": "DOWN", "M3": "MAINT", "M4": "no check"}
    counters = summary.counters["L1"]
    assert (counters.bytes_in, counters.bytes_out, counters.active_connections,
            counters.total_connections, counters.request_errors) == (1000, 2000, 3, 42, 7)


def test_normalise_status_keeps_plain_words() -> None:
    assert [normalise_status(s) for s in ("DRAIN", "NOLB", "DRAIN (agent)")] == \
        ["DRAIN", "NOLB", "DRAIN"]


def test_show_proc_parsing_ignores_old_workers() -> None:
    text = ("#<PID> <type> <reloads> <uptime> <version>\n"
            "100 master 2 [failed: 1] 0d00h00m05s 2.6.12\n# workers\n"
            "103 worker 0 0d00h00m01s 2.6.12\n101 worker 1 0d00h00m04s 2.6.12\n# programs\n")
    assert worker_pids(text) == [103]
    assert master_failed_reloads(text) == 1


def _cfg(snapshot) -> str:  # type: ignore[no-untyped-def]
    return render_haproxy(snapshot, state_dir="/var/lib/nslb", fd_limit=20000)


def test_weight_and_admin_state_changes_use_the_runtime_api() -> None:
    old = http_full()
    new = http_full()
    new.members[0].weight = 7
    new.members[3].admin_state_up = True
    pool = old.pools[0].id
    assert _lines(runtime_commands(_cfg(old), _cfg(new))) == [
        f"set weight {pool}/{member_id(1)} 7",
        f"set server {pool}/{member_id(4)} state ready",
    ]


def _lines(commands: list[RuntimeCommand] | None) -> list[str] | None:
    return None if commands is None else [c.line for c in commands]


def test_other_changes_need_a_reload() -> None:
    old = http_full()
    new = http_full()
    new.members[0].backup = True
    assert runtime_commands(_cfg(old), _cfg(new)) is None
    assert runtime_commands(_cfg(old), _cfg(old)) == []


def _pool_of_members(n: int, **pool: object) -> LoadBalancerSnapshot:
    hm = monitor("HTTP", delay=2, timeout=1, max_retries=2)
    return snapshot(listeners=(listener(),), pools=(rc_pool(**pool),), members=members(n),
                    monitors=(hm,))


def test_members_are_added_and_removed_at_runtime() -> None:
    three, two = _pool_of_members(3), _pool_of_members(2)
    pool = three.pools[0].id
    added = runtime_commands(_cfg(two), _cfg(three))
    assert added is not None
    assert [c.line for c in added] == [
        f"add server {pool}/{member_id(3)} 10.250.0.23:8080 weight 1 check inter 2s fall 3 "
        "rise 2",
        f"enable server {pool}/{member_id(3)}",
        f"enable health {pool}/{member_id(3)}"]
    assert added[0].succeeded("New server registered.\n\n")
    assert not added[0].succeeded("Backend must use a dynamic load balancing ...")
    removed = runtime_commands(_cfg(three), _cfg(two))
    assert _lines(removed) == [f"disable server {pool}/{member_id(3)}",
                               f"del server {pool}/{member_id(3)}"]
    assert removed is not None and removed[1].succeeded("Server deleted.\n")
    # still busy: it stays in maintenance (no new requests) until the next reload
    assert removed[1].succeeded("Server still has connections attached to it.")
    assert not removed[0].succeeded("No such server.")


@pytest.mark.parametrize("persistence", [{"type": "HTTP_COOKIE"}, None])
def test_backends_haproxy_cannot_change_at_runtime_reload(persistence: object) -> None:
    """HTTP_COOKIE pools (the cookie option) and SOURCE_IP balancing refuse dynamic
    servers in HAProxy 2.6."""
    kw = ({"session_persistence": persistence} if persistence
          else {"lb_algorithm": "SOURCE_IP"})
    assert runtime_commands(_cfg(_pool_of_members(2, **kw)),
                            _cfg(_pool_of_members(3, **kw))) is None
