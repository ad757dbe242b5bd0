"""The HTTP layer against hostile clients (probe F7, F8, F11, F13; issue 14 items 5 and 11,
issue 15 section 3 request logging).

In-process tests send the probe's inputs to all three APIs and check the status and the fault
shape of the API called. Tests marked "real server" run nslb's uvicorn configuration on
loopback with real sockets; the memory test runs `nslb serve` as a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.api.jsonbody import MAX_DEPTH
from nslb.config import Settings
from nslb.db.engine import Database
from tests.contract.server import NSLB, NslbServer
from tests.functional.keystone_helpers import Cloud, keystone_cloud, keystone_error
from tests.functional.octavia_helpers import LB_URL, NET, fault
from tests.security.live_server import closed_by_peer, live_server

pytestmark = pytest.mark.security

MIB = 1024 * 1024
V3 = "/identity/v3"
REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
JSON = {"Content-Type": "application/json"}


# --- fault shapes ---------------------------------------------------------------------

def neutron_fault(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}, body
    message: str = body["NeutronError"]["message"]
    return message


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with keystone_cloud(tmp_path / "ks") as c:
        yield c


def login_body(name: str = "admin") -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"id": "default"}, "password": "wrong"}}}}}


# --- F7: body size ----------------------------------------------------------------------

def big_json(root: str, size: int) -> bytes:
    return json.dumps({root: {"name": "x", "description": "d" * size}}).encode()


def test_oversized_bodies_are_413_in_each_api_shape(client: TestClient, cloud: Cloud) -> None:
    body = big_json("loadbalancer", 2 * MIB)
    assert "too large" in fault(client.post(LB_URL, content=body, headers=JSON), 413)
    assert "too large" in neutron_fault(
        client.post(f"{NET}/networks", content=big_json("network", 2 * MIB), headers=JSON), 413)
    resp = cloud.client.post(f"{V3}/auth/tokens", content=big_json("auth", 2 * MIB),
                             headers=JSON)
    assert "too large" in keystone_error(resp, 413)
    assert resp.json()["error"]["title"] == "Request Entity Too Large"
    assert "X-Subject-Token" not in resp.headers


def test_streamed_body_is_cut_at_the_limit(client: TestClient) -> None:
    """Chunked: no Content-Length to check, the bytes are counted as they arrive (the test
    client buffers the body; the real-server test below shows nslb stops reading)."""
    def chunks() -> Iterator[bytes]:
        yield b'{"loadbalancer": {"description": "'
        for _ in range(32):
            yield b"d" * 64 * 1024
        yield b'"}}'

    fault(client.post(LB_URL, content=chunks(), headers=JSON), 413)


def test_body_limit_is_a_setting(tmp_path: Path, db: Database) -> None:
    settings = Settings(state_dir=tmp_path, max_body_bytes=1000)
    with TestClient(create_app(settings, db), headers={"X-Project-Id": "p"}) as small:
        fault(small.post(LB_URL, content=big_json("loadbalancer", 2000), headers=JSON), 413)
        resp = small.post(LB_URL, content=big_json("loadbalancer", 100), headers=JSON)
        assert resp.status_code == 400  # read and validated: no vip_subnet_id


# --- F11: bodies that used to be 500s -------------------------------------------------

NESTED = b"[" * 100_000 + b"]" * 100_000  # the probe's reproduction


def bad_bodies(root: str) -> dict[str, bytes]:
    """The probe's envelope attacks, each inside the API's own envelope."""
    def wrap(value: str) -> bytes:
        return f'{{"{root}": {{"name": {value}}}}}'.encode()

    def nest(levels: int) -> bytes:
        return f'{{"{root}": {{"tags": {"[" * levels}{"]" * levels}}}}}'.encode()

    raw_name = f'{{"{root}": {{"name": "'.encode()
    return {
        "lone surrogate": wrap('"\\ud800"'),
        "raw surrogate bytes": raw_name + b'\xed\xa0\x80"}}',
        "NUL": wrap('"a\\u0000b"'),
        "NUL in a key": f'{{"{root}": {{"a\\u0000": 1}}}}'.encode(),
        "NaN": wrap("NaN"),
        "Infinity": wrap("-Infinity"),
        "overflowing float": wrap("1e400"),
        "int 2**63": wrap(str(2**63)),
        "int -2**63-1": wrap(str(-(2**63) - 1)),
        "5000 digits": wrap("9" * 5000),
        "nesting 100000": NESTED,
        f"nesting {MAX_DEPTH + 1}": nest(MAX_DEPTH - 1),
        "invalid UTF-8": raw_name + b'\xff\xfe"}}',
    }


def test_hostile_json_is_400_in_octavia_shape(client: TestClient) -> None:
    for name, body in bad_bodies("loadbalancer").items():
        assert fault(client.post(LB_URL, content=body, headers=JSON), 400), name
        assert fault(client.put(f"{LB_URL}/x", content=body, headers=JSON), 400), name
    body = b'{"listener": {"connection_limit": 9223372036854775808}}'
    fault(client.put("/v2/lbaas/listeners/x", content=body, headers=JSON), 400)


def test_hostile_json_is_400_in_neutron_shape(client: TestClient) -> None:
    for name, body in bad_bodies("network").items():
        assert neutron_fault(client.post(f"{NET}/networks", content=body, headers=JSON),
                             400), name


def test_hostile_json_is_400_in_keystone_shape_unauthenticated(cloud: Cloud) -> None:
    for name, body in bad_bodies("auth").items():
        resp = cloud.client.post(f"{V3}/auth/tokens", content=body, headers=JSON)
        assert keystone_error(resp, 400), name
    user = login_body()
    user["auth"]["identity"]["password"]["user"]["name"] = "\ud800"
    raw = json.dumps(user).encode()  # ensure_ascii: the escape "\ud800" on the wire
    keystone_error(cloud.client.post(f"{V3}/auth/tokens", content=raw, headers=JSON), 400)


def test_nesting_within_the_limit_is_parsed(client: TestClient) -> None:
    levels = MAX_DEPTH - 2  # {"loadbalancer": {"tags": [[...]]}}: two levels above
    body = f'{{"loadbalancer": {{"tags": {"[" * levels}{"]" * levels}}}}}'.encode()
    message = fault(client.post(LB_URL, content=body, headers=JSON), 400)
    assert "nested" not in message  # refused by the schema, not by the decoder


def test_nul_in_query_or_path_is_400(client: TestClient, cloud: Cloud) -> None:
    fault(client.get(f"{LB_URL}?name=%00"), 400)
    fault(client.get(f"{LB_URL}?tags=a%00b"), 400)
    fault(client.get(f"{LB_URL}/%00"), 400)
    neutron_fault(client.get(f"{NET}/networks?name=x%00"), 400)
    keystone_error(cloud.client.get(f"{V3}/projects?name=%00", headers=cloud.admin()), 400)
    assert client.get(f"{LB_URL}?name=%C3%A9").status_code == 200  # ordinary UTF-8


# --- F13: content types -----------------------------------------------------------------

def test_non_json_content_types_are_415(client: TestClient, cloud: Cloud) -> None:
    lb = json.dumps({"loadbalancer": {"name": "x"}}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/jsonx"):
        headers = {"Content-Type": content_type}
        assert "Unknown mimetype" in fault(client.post(LB_URL, content=lb, headers=headers),
                                           415)
        neutron_fault(client.post(f"{NET}/networks", content=b'{"network": {}}',
                                  headers=headers), 415)
        resp = cloud.client.post(f"{V3}/auth/tokens", content=json.dumps(login_body()),
                                 headers=headers)
        keystone_error(resp, 415)
        assert resp.json()["error"]["title"] == "Unsupported Media Type"
    fault(client.post(LB_URL, content=lb), 415)  # a body without any content type


def test_json_content_types_that_clients_send_are_accepted(client: TestClient) -> None:
    body = json.dumps({"network": {"name": "n"}}).encode()
    # keystoneauth (openstacksdk, the openstack CLI) sends application/json; others add a
    # charset; an empty body needs no content type at all.
    for content_type in ("application/json", "application/json; charset=utf-8",
                         "Application/JSON;charset=UTF-8"):
        resp = client.post(f"{NET}/networks", content=body, headers={"Content-Type": content_type})
        assert resp.status_code == 201, resp.text
    assert "must be a JSON object" in fault(client.post(LB_URL), 400)


# --- F13: no echo of a whole user value -----------------------------------------------

def test_error_messages_cut_the_echoed_value(client: TestClient) -> None:
    long_name = "N" * 100_000
    message = fault(client.post(LB_URL, json={"loadbalancer": {"name": long_name,
                                                                "vip_subnet_id": "x"}}), 400)
    assert len(message) < 400
    assert "N" * 64 + "..." in message and "N" * 65 not in message
    message = fault(client.post(LB_URL, json={"loadbalancer": {"k" * 10_000: 1}}), 400)
    assert len(message) < 400
    message = fault(client.get(f"{LB_URL}?limit={'9x' * 5000}"), 400)
    assert len(message) < 400


# --- issue 15: request log and request id ---------------------------------------------

def test_every_response_carries_a_request_id(client: TestClient, cloud: Cloud) -> None:
    seen = set()
    for resp in (client.get(LB_URL), client.get(f"{LB_URL}/nope"),
                 client.post(LB_URL, content=b"{", headers=JSON),
                 client.post(LB_URL, content=big_json("loadbalancer", 2 * MIB), headers=JSON),
                 client.get("/"), cloud.client.post(f"{V3}/auth/tokens", json=login_body())):
        request_id = resp.headers["x-openstack-request-id"]
        assert REQUEST_ID.fullmatch(request_id), request_id
        seen.add(request_id)
    assert len(seen) == 6


def test_one_log_line_per_request_without_secrets(cloud: Cloud,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nslb.api.requests")
    resp = cloud.client.get(f"{LB_URL}?name=querysecret", headers=cloud.admin())
    assert resp.status_code == 200
    body = login_body()
    body["auth"]["identity"]["password"]["user"]["password"] = "pw-secret"
    login = cloud.client.post(f"{V3}/auth/tokens", json=body)
    cloud.client.get(f"{LB_URL}/a%0aFORGED", headers=cloud.admin())
    lines = [r.getMessage() for r in caplog.records if r.name == "nslb.api.requests"]
    assert len(lines) == 3, lines
    listed, failed_login, forged = lines
    assert listed.startswith(f"GET {LB_URL} 200 ")
    assert resp.headers["x-openstack-request-id"] in listed
    assert f"project={cloud.projects['admin']}" in listed
    assert re.search(r" \d+\.\d ms ", listed)
    assert failed_login.startswith(f"POST {V3}/auth/tokens 401 ")
    assert login.headers["x-openstack-request-id"] in failed_login
    assert "\n" not in forged and "\\n" in forged
    text = "\n".join(lines)
    for secret in ("querysecret", "pw-secret", cloud.admin_token):
        assert secret not in text


# --- real server: 500s, slow clients, connection cap ----------------------------------

def boom(request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.fixture
def live_settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, header_timeout=1.0, body_timeout=1.0,
                    keepalive_timeout=1.0, max_connections=1000)


def live_app(settings: Settings, db: Database) -> Any:
    app = create_app(settings, db)
    app.router.routes.insert(0, Route("/boom", boom))
    app.router.routes.insert(0, Route("/networking/boom", boom))
    return app


def client_port(resp: httpx.Response) -> int:
    port: int = resp.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


def test_a_500_keeps_the_connection(live_settings: Settings, db: Database) -> None:
    with live_server(live_app(live_settings, db), live_settings) as srv, \
            httpx.Client(base_url=srv.url) as http:
        first = http.get("/boom")
        fault(first, 500)
        assert first.headers.get("connection") != "close"
        assert REQUEST_ID.fullmatch(first.headers["x-openstack-request-id"])
        second = http.get("/v2/lbaas/loadbalancers", headers={"X-Project-Id": "p"})
        assert second.status_code == 200
        assert client_port(second) == client_port(first)  # the same connection
        neutron_fault(http.get("/networking/boom"), 500)
        assert srv.open_connections == 1


def test_slowloris_is_closed_while_others_are_served(live_settings: Settings,
                                                      db: Database) -> None:
    settings = replace(live_settings, header_timeout=3.0)
    with live_server(live_app(settings, db), settings) as srv:
        opened = time.monotonic()
        slow = [srv.connect(b"GET / HTTP/1.1\r\nHost: x\r\n") for _ in range(500)]
        srv.wait_until(lambda n: n >= 500)
        for sock in slow:  # one more header line each, as a slowloris trickles
            sock.sendall(b"X-a: b\r\n")
        started = time.monotonic()
        resp = httpx.get(srv.url + "/")  # a normal client meanwhile
        assert resp.status_code == 200
        assert time.monotonic() - started < 1.0
        early = time.monotonic() - opened
        assert early < settings.header_timeout - 0.5, "test too slow to tell"
        assert srv.open_connections >= 500  # none closed before the timeout
        closed = [closed_by_peer(sock, max(0.0, opened + 8.0 - time.monotonic()))
                  for sock in slow]
        assert all(closed), f"{closed.count(False)} of 500 still open"
        assert time.monotonic() - opened >= settings.header_timeout
        srv.wait_until(lambda n: n == 0)
        assert httpx.get(srv.url + "/").status_code == 200
        for sock in slow:
            sock.close()


def test_trickled_body_and_idle_keepalive_are_closed(live_settings: Settings,
                                                      db: Database) -> None:
    with live_server(live_app(live_settings, db), live_settings) as srv:
        body = srv.connect(b"POST /v2/lbaas/loadbalancers HTTP/1.1\r\nHost: x\r\n"
                           b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        body.sendall(b" ")
        assert closed_by_peer(body, 3.0)
        assert time.monotonic() - started >= 0.9
        idle = srv.connect(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        assert closed_by_peer(idle, 3.0)  # keepalive_timeout 1 s
        body.close()
        idle.close()


def test_connections_beyond_the_cap_are_closed_at_once(live_settings: Settings,
                                                       db: Database) -> None:
    settings = replace(live_settings, header_timeout=30.0, keepalive_timeout=30.0,
                       max_connections=20)
    with live_server(live_app(settings, db), settings) as srv, \
            httpx.Client(base_url=srv.url) as http:
        assert http.get("/").status_code == 200  # one kept-alive client inside the cap
        slow = [srv.connect(b"GET / HTTP/1.1\r\n") for _ in range(19)]
        srv.wait_until(lambda n: n >= 20)
        extra: list[socket.socket] = []
        for _ in range(50):
            started = time.monotonic()
            sock = srv.connect()
            extra.append(sock)
            assert sock.recv(65536).startswith(b"HTTP/1.1 503")
            assert closed_by_peer(sock, 1.0)
            assert time.monotonic() - started < 1.0
        assert srv.open_connections == 20
        assert http.get("/").status_code == 200  # the open connections are served
        for sock in slow + extra:
            sock.close()
        srv.wait_until(lambda n: n <= 1)
        assert httpx.get(srv.url + "/").status_code == 200  # room again


# --- F7 end to end: memory stays flat in `nslb serve` ---------------------------------

class KeystoneServer(NslbServer):
    """`nslb serve --auth keystone`, started with a low soft descriptor limit."""

    def command(self) -> list[str]:
        cmd = [c if c != "noauth" else "keystone" for c in super().command()]
        return ["sh", "-c", 'ulimit -Sn 256 && exec "$@"', "nslb", *cmd]


def proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{key} not in /proc/{pid}/status")


def send_until_answered(sock: socket.socket, head: bytes, chunk: bytes,
                        total: int) -> bytes:
    """Send `head`, then `chunk`s up to `total` bytes while watching for an answer."""
    sock.sendall(head)
    sock.setblocking(False)
    sent, answer, pending = 0, b"", memoryview(chunk)
    try:
        while sent < total and not answer:
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(65536)
            try:
                done = sock.send(pending)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            sent += done
            pending = pending[done:] or memoryview(chunk)  # whole chunks, framing intact
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(5)
    with contextlib.suppress(OSError, TimeoutError):
        answer += sock.recv(65536)
    return answer


@pytest.mark.skipif(not NSLB.exists(), reason="the nslb entry point is not installed")
def test_huge_unauthenticated_login_bodies_keep_memory_flat(tmp_path: Path) -> None:
    server = KeystoneServer(tmp_path)
    try:
        server.start()
        assert server.proc is not None
        pid = server.proc.pid
        limits = Path(f"/proc/{pid}/limits").read_text()
        soft, hard = re.search(r"Max open files\s+(\S+)\s+(\S+)", limits).groups()  # type: ignore[union-attr]
        assert soft == hard  # nslb raised its own soft limit from 256
        for _ in range(3):  # warm up the login path
            httpx.post(server.url + f"{V3}/auth/tokens", json=login_body())
        before = proc_status(pid, "VmHWM")
        path = f"{V3}/auth/tokens".encode()
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                head = (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 209715200\r\n\r\n")
                answer = send_until_answered(sock, head, b"x" * 65536, 200 * MIB)
                assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                head = (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
                answer = send_until_answered(sock, head, chunk, 200 * MIB)
                assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        grown = proc_status(pid, "VmHWM") - before
        assert grown < 32 * MIB, f"peak RSS grew by {grown / MIB:.0f} MiB"
        assert httpx.get(server.url + "/").status_code == 200
    finally:
        server.kill()
