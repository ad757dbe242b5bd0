"""The health loop's lean reading of `show stat` says what the general CSV reading says."""

from __future__ import annotations

from pathlib import Path

from nslb.amphora import runtime_api
from nslb.amphora.base import MemberCounters
from nslb.amphora.haproxy_process import master_pid_of, summarise_stat

# A real answer of HAProxy 2.6.12: a frontend, servers DOWN (with check descriptions that
# hold free text), "no check", MAINT, and an agent-checked one.
SAMPLE = (Path(__file__).parent / "data" / "show_stat_2.6.txt").read_text()


def test_the_lean_summary_equals_the_general_one() -> None:
    general = runtime_api.summarise_stat(runtime_api.parse_stat(SAMPLE))
    lean = summarise_stat(SAMPLE)
    assert lean == general
    assert lean.members == {"s1": "DOWN", "s2": "no check", "s3": "MAINT", "s4": "DOWN"}
    assert lean.listeners == {"f1": "OPEN"} and lean.pools == {"b1": "UP"}


def test_counters_are_read_from_the_frontend_row() -> None:
    header, *rows = SAMPLE.splitlines()
    columns = header[2:].split(",")
    frontend = rows[0].split(",")
    for name, value in {"stot": "17", "bin": "1234", "bout": "98765", "scur": "3",
                        "ereq": "2", "req_tot": "40", "hrsp_5xx": "5"}.items():
        frontend[columns.index(name)] = value
    text = "\n".join([header, ",".join(frontend), *rows[1:]])
    counters = summarise_stat(text).counters["f1"]
    assert (counters.total_connections, counters.bytes_in, counters.bytes_out,
            counters.active_connections, counters.request_errors, counters.requests,
            counters.responses_5xx) == (17, 1234, 98765, 3, 2, 40, 5)
    assert summarise_stat(text) == runtime_api.summarise_stat(runtime_api.parse_stat(text))


def test_member_counters_are_read_from_server_rows() -> None:
    header, *rows = SAMPLE.splitlines()
    columns = header[2:].split(",")
    at = next(i for i, row in enumerate(rows) if row.split(",")[1] == "s2")
    server = rows[at].split(",")
    for name, value in {"stot": "11", "scur": "2", "bin": "300", "bout": "4000",
                        "econ": "1", "eresp": "3", "hrsp_5xx": "4"}.items():
        server[columns.index(name)] = value
    rows[at] = ",".join(server)
    text = "\n".join([header, *rows])
    stats = summarise_stat(text).member_stats
    assert set(stats) == {"s1", "s2", "s3", "s4"}
    s2 = MemberCounters.parse(stats["s2"])
    assert (s2.sessions, s2.active_sessions, s2.bytes_in, s2.bytes_out, s2.connection_errors,
            s2.response_errors, s2.responses_5xx) == (11, 2, 300, 4000, 1, 3, 4)
    assert summarise_stat(text) == runtime_api.summarise_stat(runtime_api.parse_stat(text))
    assert MemberCounters.parse(("",) * 7) == MemberCounters()  # cells haproxy left empty


def test_no_answer_is_an_empty_summary() -> None:
    assert summarise_stat("") == runtime_api.summarise_stat([])


def test_the_master_pid_is_read_from_show_proc() -> None:
    answer = ("#<PID>          <type>          <reloads>       <uptime>        <version>\n"
              "2153            master          2 [failed: 0]   0d00h01m05s     2.6.12\n"
              "# workers\n"
              "2231            worker          0               0d00h00m03s     2.6.12\n")
    assert master_pid_of(answer) == 2153
    assert master_pid_of("") is None


def _with(row_index: int, values: dict[str, str]) -> str:
    """SAMPLE with some columns of one row (0: the frontend) replaced."""
    header, *rows = SAMPLE.splitlines()
    columns = header[2:].split(",")
    fields = rows[row_index].split(",")
    for name, value in values.items():
        fields[columns.index(name)] = value
    rows[row_index] = ",".join(fields)
    return "\n".join([header, *rows])


def test_traffic_of_an_http_frontend_counts_requests_and_5xx_answers() -> None:
    text = _with(0, {"stot": "4", "req_tot": "40", "scur": "2", "ereq": "1",
                     "hrsp_5xx": "6"})
    traffic = summarise_stat(text).traffic["f1"]
    assert (traffic.requests, traffic.connections, traffic.errors) == (40, 2, 7)
    assert summarise_stat(text) == runtime_api.summarise_stat(runtime_api.parse_stat(text))


def test_traffic_of_a_server_counts_failed_connects_responses_and_5xx() -> None:
    text = _with(1, {"stot": "9", "req_tot": "12", "scur": "3", "econ": "2", "eresp": "1",
                     "hrsp_5xx": "4"})
    traffic = summarise_stat(text).traffic["s1"]
    assert (traffic.requests, traffic.connections, traffic.errors) == (12, 3, 7)
    assert summarise_stat(text) == runtime_api.summarise_stat(runtime_api.parse_stat(text))


def test_a_tcp_proxy_without_req_tot_counts_connections_as_requests() -> None:
    text = _with(0, {"stot": "5", "req_tot": ""})
    assert summarise_stat(text).traffic["f1"].requests == 5
    assert runtime_api.summarise_stat(runtime_api.parse_stat(text)).traffic["f1"].requests == 5
