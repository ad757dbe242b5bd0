"""The renderer is safe by construction (probe 2026-12-03, F1/F2/F13).

Two kinds of proof:
- every hostile value from the probe, placed straight into a snapshot (as a row written by an
  older version or by hand would be), is refused at render time: nothing is rendered;
- a property test renders random API-valid load balancers, with hostile characters mixed
  into every generated string, and checks that the config holds exactly the intended
  directives (a small tokenizer that follows HAProxy's quoting) and that haproxy -c accepts it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from nslb.api.octavia import schemas
from nslb.model import enums
from nslb.model.resources import HealthMonitor, Listener, LoadBalancer, Member, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render import render_haproxy
from nslb.render.values import UnsafeValue
from nslb.render.views import rendered_listeners, rendered_pools
from tests.unit import render_cases as rc

STATE_DIR = "/var/lib/nslb"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists(
    "/usr/sbin/haproxy") else None)

# --- the probe's payloads, rendered without the API in front ------------------------------

F1_ADDRESS = ("fe80::1%lo]:80 init-addr none\n    http-request return status 200 content-type "
              "text\\x2fplain file \\x2fvar\\x2flib\\x2fnslb\\x2fclouds.yaml\n#")
F2_PATHS = ['/"${NSLB_DB}"', '/"${RELTEST_SECRET}"', "/x\r\nX-Injected:\\x20yes", "/x\\x0aINJESC",
            "/x#INJH", '/x"INJQ', "/x'INJSQ", "/x\u0000y"]


def _render(snap: LoadBalancerSnapshot) -> str:
    return render_haproxy(snap, state_dir=STATE_DIR, fd_limit=20000)


def _http_lb(**member: Any) -> LoadBalancerSnapshot:
    hm = rc.monitor("HTTP", delay=2, timeout=1, max_retries=2, url_path="/health")
    return rc.snapshot(listeners=(rc.listener(),), pools=(rc.pool(),),
                       members=rc.members(1, **member), monitors=(hm,))


@pytest.mark.parametrize("address", [F1_ADDRESS, "fe80::1%eth0", "10.0.0.1 backup",
                                     "FD00::1", "10.0.0.1\n", "::ffff:10.0.0.1"])
def test_member_address_outside_its_grammar_is_not_rendered(address: str) -> None:
    with pytest.raises(UnsafeValue, match="member address"):
        _render(_http_lb(address=address))


def test_monitor_address_with_a_scope_id_is_not_rendered() -> None:
    with pytest.raises(UnsafeValue, match="monitor_address"):
        _render(_http_lb(monitor_address=F1_ADDRESS))


def test_vip_address_with_a_scope_id_is_not_rendered() -> None:
    snap = rc.snapshot(listeners=(rc.listener(),), pools=(rc.pool(),))
    snap = dataclasses.replace(snap, lb=dataclasses.replace(snap.lb, vip_address="fd00::1%x y"))
    with pytest.raises(UnsafeValue, match="VIP address"):
        _render(snap)


@pytest.mark.parametrize("path", F2_PATHS)
def test_hostile_url_path_is_not_rendered(path: str) -> None:
    hm = rc.monitor("HTTP", url_path=path)
    snap = rc.snapshot(listeners=(rc.listener(),), pools=(rc.pool(),), monitors=(hm,))
    with pytest.raises(UnsafeValue, match="url_path"):
        _render(snap)


@pytest.mark.parametrize(("field", "value"), [
    ("expected_codes", "200-100"), ("expected_codes", "200\nhttp-request deny"),
    ("delay", 0), ("delay", 2147484), ("timeout", 2147484), ("http_method", "GET /x"),
    ("domain_name", "a.example\n#"),
])
def test_monitor_values_haproxy_would_refuse_are_not_rendered(field: str, value: Any) -> None:
    hm = rc.monitor("HTTP", http_version=1.1, **{field: value})
    snap = rc.snapshot(listeners=(rc.listener(),), pools=(rc.pool(),), members=rc.members(1),
                       monitors=(hm,))
    with pytest.raises(UnsafeValue, match=field):
        _render(snap)


def test_cookie_name_and_cidrs_and_ids_are_checked() -> None:
    bad_cookie = rc.pool(session_persistence={"type": "APP_COOKIE", "cookie_name": "a b"})
    with pytest.raises(UnsafeValue, match="cookie_name"):
        _render(rc.snapshot(listeners=(rc.listener(),), pools=(bad_cookie,)))
    bad_cidr = rc.listener(allowed_cidrs=["10.0.0.0/8 }\n    http-request deny"])
    with pytest.raises(UnsafeValue, match="allowed_cidrs"):
        _render(rc.snapshot(listeners=(bad_cidr,), pools=(rc.pool(),)))
    bad_id = dataclasses.replace(rc.members(1)[0], id="x\nlisten y")
    with pytest.raises(UnsafeValue, match="member id"):
        _render(rc.snapshot(listeners=(rc.listener(),), pools=(rc.pool(),), members=(bad_id,)))


def test_the_refusal_never_repeats_the_value() -> None:
    with pytest.raises(UnsafeValue) as info:
        _render(_http_lb(address=F1_ADDRESS))
    assert "clouds" not in str(info.value) and "fe80" not in str(info.value)


# --- property: random API-valid load balancers render to exactly the intended config -------

HOSTILE = st.sampled_from(['"', "'", "\\", "#", "$", "${HOME}", "\n", "\r", " ", "\t", "%",
                           "%lo", "]", "\x00", "\u0662", "}", "{", ";"])


def _sometimes_hostile(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly valid values, some with a hostile piece spliced in (the API must refuse those,
    and the ones it accepts must still render safely)."""
    spliced = st.tuples(valid, HOSTILE, st.integers(0, 40)).map(
        lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:])
    return st.one_of(valid, valid, valid, spliced)


IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(str)
URL_PATHS = st.from_regex(r"/[A-Za-z0-9._~!&()*+,;=:@/?%-]{0,30}", fullmatch=True)
CODES = st.one_of(st.integers(100, 599).map(str),
                  st.tuples(st.integers(100, 599), st.integers(0, 20)).map(
                      lambda t: f"{t[0]}-{min(599, t[0] + t[1])}"),
                  st.lists(st.integers(100, 599), min_size=1, max_size=4).map(
                      lambda xs: ",".join(map(str, xs))))


def _valid(schema: type[BaseModel], data: dict[str, Any]) -> dict[str, Any] | None:
    """The values as the API stores them, or None when the API refuses them."""
    try:
        return schema.model_validate(data).model_dump(exclude_none=True)
    except ValidationError:
        return None


@st.composite
def member_bodies(draw: st.DrawFn, v6: bool) -> dict[str, Any]:
    addresses = IPV6 if v6 else IPV4
    body: dict[str, Any] = {
        "address": draw(_sometimes_hostile(addresses)),
        "protocol_port": draw(st.integers(1, 65535)),
        "weight": draw(st.integers(0, 256)),
        "backup": draw(st.booleans()),
        "admin_state_up": draw(st.booleans()),
    }
    if draw(st.booleans()):
        body["monitor_address"] = draw(_sometimes_hostile(addresses))
        body["monitor_port"] = draw(st.integers(1, 65535))
    return body


@st.composite
def monitor_bodies(draw: st.DrawFn, pool_id: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(enums.SUPPORTED_HM_TYPES)))
    body: dict[str, Any] = {"pool_id": pool_id, "type": kind,
                            "delay": draw(st.integers(1, 2147483)),
                            "timeout": draw(st.integers(0, 2147483)),
                            "max_retries": draw(st.integers(1, 10)),
                            "max_retries_down": draw(st.integers(1, 10))}
    if kind in ("HTTP", "HTTPS"):
        body["url_path"] = draw(_sometimes_hostile(URL_PATHS))
        body["expected_codes"] = draw(_sometimes_hostile(CODES))
        body["http_method"] = draw(st.sampled_from(sorted(enums.HttpMethod)))
        if draw(st.booleans()):
            body["http_version"] = 1.1
            body["domain_name"] = draw(_sometimes_hostile(
                st.from_regex(r"[a-z0-9-]{1,10}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True)))
    return body


@st.composite
def load_balancers(draw: st.DrawFn) -> LoadBalancerSnapshot:
    v6 = draw(st.booleans())
    vip = "fd00:250::10" if v6 else "10.250.0.10"
    base = rc.snapshot(vip=vip)
    listeners, pools, members, monitors = [], [], [], []
    ports = draw(st.lists(st.integers(1, 65535), min_size=1, max_size=3, unique=True))
    for n, port in enumerate(ports):
        protocol = draw(st.sampled_from(["HTTP", "HTTPS", "TCP"]))
        pool_protocol = draw(st.sampled_from(sorted(
            enums.LISTENER_POOL_PROTOCOLS[protocol] & enums.SUPPORTED_POOL_PROTOCOLS)))
        pool_id = f"3333333{n}-3333-4333-8333-33333333333{n}"
        cidr = "fd00:250::/64" if v6 else "10.250.0.0/24"
        listener_body = _valid(schemas.ListenerCreate, {
            "loadbalancer_id": rc.LB_ID, "protocol": protocol, "protocol_port": port,
            "connection_limit": draw(st.integers(-1, 100000)),
            "timeout_client_data": draw(st.integers(0, schemas.MAX_TIMEOUT)),
            "connection_logging": draw(st.booleans()),
            "timeout_member_connect": draw(st.integers(0, schemas.MAX_TIMEOUT)),
            "timeout_member_data": draw(st.integers(0, schemas.MAX_TIMEOUT)),
            "timeout_tcp_inspect": draw(st.integers(0, schemas.MAX_TIMEOUT)),
            "allowed_cidrs": draw(st.lists(_sometimes_hostile(st.just(cidr)), max_size=2,
                                           unique=True))})
        persistence = draw(st.sampled_from([None, "SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]))
        sp = None if persistence is None else {"type": persistence}
        if persistence == "APP_COOKIE":
            sp = {"type": persistence, "cookie_name": draw(_sometimes_hostile(
                st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)))}
        pool_body = _valid(schemas.PoolCreate, {
            "protocol": pool_protocol, "lb_algorithm": draw(st.sampled_from(
                sorted(enums.SUPPORTED_ALGORITHMS))), "session_persistence": sp,
            "admin_state_up": draw(st.booleans())})
        assume(listener_body is not None and pool_body is not None)
        assert listener_body is not None and pool_body is not None
        if sp and sp["type"] in ("APP_COOKIE", "HTTP_COOKIE") and pool_protocol != "HTTP":
            pool_body.pop("session_persistence")
        listeners.append(Listener(
            id=f"2222222{n}-2222-4222-8222-22222222222{n}", loadbalancer_id=rc.LB_ID,
            default_pool_id=pool_id,
            **{k: v for k, v in listener_body.items() if k in Listener.__dataclass_fields__
               and k not in ("id", "default_pool_id", "loadbalancer_id")}))
        pools.append(Pool(id=pool_id, loadbalancer_id=rc.LB_ID, **{
            k: v for k, v in pool_body.items()
            if k in Pool.__dataclass_fields__ and k != "loadbalancer_id"}))
        for m in range(draw(st.integers(0, 3))):
            body = _valid(schemas.MemberCreate, draw(member_bodies(v6)))
            if body is not None:
                members.append(Member(id=f"6666666{m}-6666-4666-8666-6666666666{n}{m}",
                                      pool_id=pool_id, loadbalancer_id=rc.LB_ID, **{
                                          k: v for k, v in body.items()
                                          if k in Member.__dataclass_fields__}))
        hm_body = _valid(schemas.HealthMonitorCreate, draw(monitor_bodies(pool_id)))
        if hm_body is not None and draw(st.booleans()):
            monitors.append(HealthMonitor(
                id=f"4444444{n}-4444-4444-8444-44444444444{n}", loadbalancer_id=rc.LB_ID,
                **{k: v for k, v in hm_body.items()
                   if k in HealthMonitor.__dataclass_fields__ and k != "loadbalancer_id"}))
    # A noauth project id may be any short string; it reaches the access log format.
    project = draw(st.sampled_from([PROJECT, "", *F2_PATHS, "a b", "%[env(HOME)]"]))
    lb = LoadBalancer(id=rc.LB_ID, vip_address=vip, admin_state_up=draw(st.booleans()),
                      project_id=project)
    return dataclasses.replace(base, lb=lb, listeners=tuple(listeners), pools=tuple(pools),
                               members=tuple(members), healthmonitors=tuple(monitors))


PROJECT = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
LOG_FORMAT_HTTP = ('%f %ci %cp %t "%HM %HPO %HV" %ST %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] '
                   "%b %s %Tt %tsc")
LOG_FORMAT_TCP = "%f %ci %cp %t - - %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
WORD = re.compile(r"'([^']*)'|(\S+)")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The directives each section may hold, by their leading words.
ALLOWED = {
    "global": {"user", "group", "maxconn", "stats", "external-check", "insecure-fork-wanted",
               "hard-stop-after", "log-send-hostname", "httpclient.ssl.verify"},
    "defaults": {"no", "retries", "option"},
    "ring": {"format", "maxlen", "size"},
    "frontend": {"disabled", "maxconn", "bind", "mode", "tcp-request", "default_backend",
                 "timeout", "option", "log", "log-format"},
    "backend": {"mode", "balance", "fullconn", "option", "timeout", "server", "cookie",
                "stick-table", "stick", "http-check", "http-request", "external-check"},
}
SERVER_FLAGS = {"check", "backup", "disabled", "send-proxy", "send-proxy-v2", "check-ssl",
                "ssl"}
SERVER_ARGS = {"weight": r"\d+", "inter": r"\d+s", "fall": r"\d+", "rise": r"\d+",
               "port": r"\d+", "verify": r"none", "cookie": UUID.pattern, "addr": r"\S+",
               "sni": r"ssl_fc_sni"}


def _words(line: str) -> list[str]:
    """A line split the way HAProxy splits it, for the quoting nslb uses (strong quotes)."""
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in WORD.finditer(line)]


def _sections(text: str) -> dict[tuple[str, ...], list[list[str]]]:
    lines = text.splitlines()
    assert lines[0].startswith("# Configuration for loadbalancer ")
    sections: dict[tuple[str, ...], list[list[str]]] = {}
    current: list[list[str]] = []
    for line in lines[1:]:
        assert re.fullmatch(r"[\x20-\x7e]*", line), f"non-printable character in {line!r}"
        # the double quotes of the access log's request field, checked whole in _check
        allowed = line.replace('"%HM %HPO %HV"', "") if line.startswith(
            "    log-format '") else line
        for forbidden in ('"', "\\", "#"):
            assert forbidden not in allowed, f"{forbidden!r} in {line!r}"
        if not line.strip():
            continue
        words = _words(line)
        if not line.startswith(" "):
            key = tuple(words)
            assert key not in sections, f"section {key} twice"
            current = sections.setdefault(key, [])
        else:
            current.append(words)
    return sections


def _endpoint(address: str, port: int) -> str:
    ip = ipaddress.ip_address(address)
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def _check_server(words: list[str], member: Member) -> None:
    assert words[:3] == ["server", member.id, _endpoint(member.address, member.protocol_port)]
    rest = words[3:]
    while rest:
        word = rest.pop(0)
        if word in SERVER_FLAGS:
            continue
        assert word in SERVER_ARGS, f"unexpected server option {word!r}"
        value = rest.pop(0)
        assert re.fullmatch(SERVER_ARGS[word], value), (word, value)
        if word == "addr":
            ip = ipaddress.ip_address(member.monitor_address or "")
            assert value == (f"[{ip}]" if ip.version == 6 else str(ip))


def _check_log(snap: LoadBalancerSnapshot, listener: Listener, lines: list[list[str]]) -> None:
    """A listener logs iff it has connection_logging, into nslb's ring, in Octavia's
    format with the project id as one word (or `-`) and the LB id."""
    logs = [w for w in lines if w[0] in ("log", "log-format")]
    if not listener.connection_logging:
        assert logs == []
        return
    project = snap.lb.project_id if re.fullmatch(r"[A-Za-z0-9_.:@+=-]+", snap.lb.project_id) \
        else "-"
    http = listener.protocol in ("HTTP", "TERMINATED_HTTPS")
    fields = f"{project} {rc.LB_ID} " + (LOG_FORMAT_HTTP if http else LOG_FORMAT_TCP)
    assert logs == [["log", "ring@access", "len", "4096", "format", "rfc5424",
                     "local0", "info"], ["log-format", fields]]


def _check(snap: LoadBalancerSnapshot, text: str) -> None:
    sections = _sections(text)
    listeners = rendered_listeners(snap)
    pools = rendered_pools(snap)
    expected = {("global",), ("defaults",), *(("frontend", li.id) for li in listeners),
                *(("backend", p.id) for p in pools)}
    assert set(sections) - {("ring", "access")} == expected
    if ("ring", "access") in sections:  # the ring is ours: fixed name, fixed lines
        assert sections[("ring", "access")] == [["format", "rfc5424"], ["maxlen", "4096"],
                                                ["size", "1048576"]]
    for key, lines in sections.items():
        for words in lines:
            assert words[0] in ALLOWED[key[0]], f"{words} in {key}"
    for listener in listeners:
        _check_log(snap, listener, sections[("frontend", listener.id)])
    for pool in pools:
        lines = sections[("backend", pool.id)]
        servers = [w for w in lines if w[0] == "server"]
        wanted = snap.members_of(pool.id)
        assert len(servers) == len(wanted)
        for words, member in zip(servers, wanted, strict=True):
            _check_server(words, member)
        hm = snap.healthmonitor_of(pool.id)
        for words in lines:
            if words[:2] == ["option", "httpchk"]:
                assert hm is not None and words[2] == hm.http_method
                assert words[3] == hm.url_path
                assert len(words) in (4, 5)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(load_balancers())
def test_random_api_valid_load_balancers_render_exactly_the_intended_config(
        snap: LoadBalancerSnapshot) -> None:
    text = _render(snap)
    _check(snap, text)
    if HAPROXY is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".cfg") as cfg:
            cfg.write(text)
            cfg.flush()
            result = subprocess.run([HAPROXY, "-c", "-f", cfg.name], capture_output=True,
                                    text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
