"""The UDP agent's pieces that need no namespace: the checks against real sockets on
loopback, the rise/fall rule, and the statuses it reports in HAProxy's words."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from nslb.amphora import udp_checks
from nslb.amphora.udp_agent import Agent, Health
from nslb.render.udp import MonitorView, build_view
from tests.unit.test_render_udp import weighted

UDP = MonitorView(type="UDP-CONNECT", delay=3, timeout=1, rise=2, fall=2)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_udp_connect_is_down_on_port_unreachable_and_up_on_silence() -> None:
    assert udp_checks.run(UDP, "127.0.0.1", free_udp_port()) is False  # ICMP unreachable
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        assert udp_checks.run(UDP, "127.0.0.1", silent.getsockname()[1]) is True


def test_tcp_check() -> None:
    tcp = MonitorView(type="TCP", delay=1, timeout=1, rise=1, fall=1)
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert udp_checks.run(tcp, "127.0.0.1", server.getsockname()[1]) is True
    assert udp_checks.run(tcp, "127.0.0.1", free_udp_port()) is False


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.send_response(204 if self.path == "/ok" else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def http_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "codes", "up"), [
    ("/ok", "200-204", True), ("/ok", "200", False), ("/bad", "500,503", True),
    ("/bad", "200-299", False)])
def test_http_check(http_port: int, path: str, codes: str, up: bool) -> None:
    hm = MonitorView(type="HTTP", delay=1, timeout=1, rise=1, fall=1, url_path=path,
                     expected_codes=codes)
    assert udp_checks.run(hm, "127.0.0.1", http_port) is up


def test_rise_and_fall() -> None:
    h = Health(("10.0.0.1", 53, UDP))
    assert not h.record(False, UDP) and h.up  # one failure of two
    assert h.record(False, UDP) and not h.up  # DOWN
    assert not h.record(True, UDP) and not h.up
    assert not h.record(False, UDP)  # a failure resets the run of successes
    assert not h.record(True, UDP)
    assert h.record(True, UDP) and h.up


def test_statuses_in_haproxy_words(tmp_path: Path) -> None:
    view = build_view(weighted())
    assert view is not None
    (tmp_path / "udp.json").write_text(view.to_json())
    agent = Agent(tmp_path, nft="/bin/true", conntrack="/bin/true")
    agent.reload()
    first, second, backup = view.pools[0].members
    assert agent.statuses()["members"] == {first.id: "UP", second.id: "UP", backup.id: "UP"}
    for member in (first, second):
        agent.health[member.id].up = False
    status = agent.statuses()
    assert status["members"] == {first.id: "DOWN", second.id: "DOWN", backup.id: "UP"}
    assert status["pools"] == {view.pools[0].id: "UP"}  # the backup serves
    agent.health[backup.id].up = False
    assert agent.statuses()["pools"] == {view.pools[0].id: "DOWN"}
    assert agent.statuses()["listeners"] == {view.listeners[0].id: "OPEN"}
    assert agent.statuses()["hash"] == agent.hash
