"""Parsing of haproxy CLI answers and the runtime-API-or-reload decision (pure)."""

from __future__ import annotations

from nslb.amphora.runtime_api import (
    master_failed_reloads,
    normalise_status,
    parse_stat,
    runtime_commands,
    summarise_stat,
    worker_pids,
)
from nslb.render import render_haproxy
from tests.unit.render_cases import http_full, member_id

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
    assert runtime_commands(_cfg(old), _cfg(new)) == [
        f"set weight {pool}/{member_id(1)} 7",
        f"set server {pool}/{member_id(4)} state ready",
    ]


def test_other_changes_need_a_reload() -> None:
    old = http_full()
    new = http_full()
    new.members[0].backup = True
    assert runtime_commands(_cfg(old), _cfg(new)) is None
    assert runtime_commands(_cfg(old), _cfg(old)) == []
