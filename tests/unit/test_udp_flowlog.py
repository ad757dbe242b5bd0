"""UDP flow logs (nslb.amphora.udp_flowlog): conntrack's DESTROY lines become Octavia's
sixteen tenant flow fields for listeners with connection_logging, and the datagram is one
the access log collector accepts and files under the LB."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nslb.accesslog.records import parse as parse_record
from nslb.amphora.udp_flowlog import Flow, datagram, fields, parse
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render.udp import UdpView, build_view
from tests.unit.render_cases import listener, members, pool, snapshot

SOCKET = "/var/lib/nslb/access-log.sock"
AMPHORA = "bd959b5b-7f91-4876-80f7-3579501eae3a"
# What `conntrack -E -e DESTROY -p udp -o timestamp` printed in an amphora's namespace
# (nf_conntrack_acct and nf_conntrack_timestamp on).
LINE = ("[1796329601.824388]\t[DESTROY] udp      17 src=10.250.0.50 dst=10.250.0.10 "
        "sport=36563 dport=53 packets=2 bytes=64 src=10.250.1.21 dst=10.250.0.10 "
        "sport=8080 dport=36563 packets=1 bytes=30 delta-time=3 [ASSURED]")


def lb(logging: bool = True, vip: str = "10.250.0.10") -> LoadBalancerSnapshot:
    address = "fd00:250::{}" if ":" in vip else "10.250.1.{}"
    return snapshot(vip=vip, listeners=(listener("UDP", 53, connection_logging=logging),),
                    pools=(pool("UDP"),), members=members(2, address=address))


def view(snap: LoadBalancerSnapshot, socket: str | None = SOCKET) -> UdpView:
    built = build_view(snap, log_socket=socket)
    assert built is not None
    return built


def test_a_destroy_line_is_parsed() -> None:
    assert parse(LINE) == Flow(ended=1796329601.824388, client="10.250.0.50",
                               client_port=36563, vip="10.250.0.10", port=53,
                               member="10.250.1.21", member_port=8080, sent_packets=2,
                               sent_bytes=64, answered_packets=1, answered_bytes=30,
                               seconds=3)


@pytest.mark.parametrize("line", ["", "[NEW] udp 17 src=1.2.3.4", LINE.replace("DESTROY", "NEW"),
                                  LINE.replace("sport=36563", "sport=x"),
                                  "[1.0]\t[DESTROY] udp 17 src=10.0.0.1 dst=10.0.0.2"])
def test_other_lines_are_ignored(line: str) -> None:
    assert parse(line) is None


def test_the_fields_are_octavias_with_payload_bytes() -> None:
    v = view(lb())
    flow = parse(LINE)
    assert flow is not None
    words = (fields(v, flow) or "").split(" ")
    member = v.pools[0].members[0]
    assert len(words) == 16
    assert words[:5] == [v.project, v.lb_id, v.listeners[0].id, "10.250.0.50", "36563"]
    assert words[5] == "03/Dec/2026:20:26:38.824"  # when the flow began (3 s before)
    # request, status; bytes read (30 - 28 of headers), uploaded (64 - 2 * 28)
    assert words[6:12] == ["-", "-", "2", "8", "-", '""']
    assert words[12:] == [v.pools[0].id, member.id, "3000", "-"]


def test_ipv6_headers_are_not_payload() -> None:
    v = view(lb(vip="fd00:250::10"))
    flow = dataclasses.replace(parse(LINE),  # type: ignore[type-var]
                               vip="fd00:250::10", member="fd00:250::21",
                               sent_bytes=2 * 48 + 10, answered_bytes=48 + 3)
    words = (fields(v, flow) or "").split(" ")
    assert words[8:10] == ["3", "10"]


def test_only_flows_to_a_logging_listener_are_logged() -> None:
    flow = parse(LINE)
    assert flow is not None
    assert fields(view(lb(logging=False)), flow) is None
    assert fields(view(lb(), socket=None), flow) is None  # the host collects no logs
    assert fields(view(lb()), dataclasses.replace(flow, vip="10.250.0.11")) is None
    assert fields(view(lb()), dataclasses.replace(flow, port=54)) is None


def test_a_member_no_longer_in_the_view_is_a_dash_and_no_timestamp_no_time() -> None:
    flow = parse(LINE)
    assert flow is not None
    gone = dataclasses.replace(flow, member="10.250.1.99", seconds=None)
    words = (fields(view(lb()), gone) or "").split(" ")
    assert words[13:15] == ["-", "-"]


def test_the_collector_files_the_line_under_the_lb() -> None:
    v = view(lb())
    flow = parse(LINE)
    assert flow is not None
    text = fields(v, flow)
    assert text is not None
    record = parse_record(datagram(AMPHORA, flow.ended, text))
    assert record is not None
    assert (record.loadbalancer_id, record.amphora_id) == (v.lb_id, AMPHORA)
    assert record.line.endswith(text)


def test_the_log_fields_round_trip_through_udp_json() -> None:
    v = view(lb())
    assert v.listeners[0].log and v.log_socket == SOCKET
    data = json.loads(v.to_json())
    assert UdpView.from_json(json.dumps(data)) == v
    data["project"] = "a b"  # not one log word: a dash, the line keeps its 16 fields
    assert UdpView.from_json(json.dumps(data)).project == "-"
