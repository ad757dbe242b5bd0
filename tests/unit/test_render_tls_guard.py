"""Property: hostile values in every TLS field that reaches haproxy.cfg either fail the API's
validation with a clear error, or render to a config that `haproxy -c` accepts and that
holds no line the value did not earn.

Each example is a TERMINATED_HTTPS listener and a re-encrypting pool built from request
bodies with hostile pieces spliced into the cipher strings, TLS versions, ALPN lists,
client authentication mode, container refs and the certificate's own names (the CN and
the dNSNames SNI is matched against). The
bodies go through what the API runs before it stores anything: the pydantic schema
(`nslb.api.http.parse`, Octavia's wording), Octavia's defaults and TLS rules with this
host's OpenSSL behind them (`nslb.api.octavia.tls`), and the ref grammar of the key manager. What
passes is rendered with real certificates, and then:
- the config equals the same load balancer without TLS options except on the lines TLS
  owns (the listener's bind line, its HSTS line, the pool's server lines), and those lines
  hold exactly the words the values earn, in order;
- no ref and no certificate name appears in haproxy.cfg or the certificate list;
- `haproxy -c` accepts it with the files in place.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nslb.api.faults import BadRequest
from nslb.api.http import parse
from nslb.api.octavia import tls as api_tls
from nslb.api.octavia.schemas import ListenerCreate, PoolCreate
from nslb.model import tls
from nslb.model.resources import HealthMonitor, Listener, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.tls import ListenerTls, PoolTls
from nslb.render.haproxy import amphora_dir, render_files
from nslb.secrets import refs
from nslb.tls import certs
from tests.tls_material import Authority
from tests.unit import render_cases as rc

STATE_DIR = "/var/lib/nslb"
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists(
    "/usr/sbin/haproxy") else None)
SERVERS, CLIENTS = Authority("guard servers"), Authority("guard clients")
CLIENTS_PEM = certs.ca_file(CLIENTS.pem)
CLIENTS_CRL = certs.crl_file(CLIENTS.crl(), CLIENTS_PEM)
LB_CLIENT = certs.from_pkcs12(CLIENTS.client("the-lb").pkcs12()).pem
MARK = "zq7x"  # in every ref and certificate name: must never reach haproxy.cfg

HOSTILE = st.sampled_from([
    '"', "'", "\\", "#", "$", "${HOME}", "\n", "\r", " ", "\t", "%", "%[env(HOME)]", ",",
    "}", "{", ";", "\x00", "\u0662", " crt /etc/shadow", "\n    bind :1 ssl",
    ":@SECLEVEL=0", "@SECLEVEL=5", " verify none", " alpn h2", "\n\n", "-----END"])
CIPHERS = st.sampled_from([
    tls.DEFAULT_CIPHERS, "ECDHE-ECDSA-AES128-SHA", "HIGH:!aNULL", "ALL:@SECLEVEL=0",
    "DEFAULT:@STRENGTH", "ECDHE+AESGCM:-SHA", "AES128-SHA:+HIGH",
    "ECDHE-ECDSA-AES256-GCM-SHA384:@SECLEVEL=3", "HIGH:@SECLEVEL=4"])
# strings with ciphers for TLSv1.0 and 1.1 too
OLD_CIPHERS = st.sampled_from(["ECDHE-ECDSA-AES128-SHA", "HIGH:!aNULL", "ALL:@SECLEVEL=0",
                               "AES128-SHA:+HIGH", "ECDHE-ECDSA-AES256-SHA:@SECLEVEL=1"])
ODD_CIPHERS = st.sampled_from(["eNULL", "!ALL", "@SECLEVEL=5:HIGH", "TLS_AES_128_GCM_SHA256",
                               "", "NOPE"])
VERSIONS = st.sampled_from(tls.TLS_VERSIONS[1:])
ODD_VERSIONS = st.sampled_from(["SSLv3", "TLSv1.4", "tlsv1.2", "TLSv1.2 ", "TLSv1.0"])
ALPN = st.sampled_from(tls.ALPN_PROTOCOLS)
ODD_ALPN = st.sampled_from(["h3", "http/1.1,h2", "h2 ", "spdy/3", ""])
AUTH = st.sampled_from(["NONE", "OPTIONAL", "MANDATORY"])
ODD_AUTH = st.sampled_from(["REQUIRED", "none", "NONE\n"])
# Words of an error that says which field or what is wrong.
CLEAR = re.compile(r"cipher|TLS|ALPN|certificate|container|HSTS|hsts|authentication|CA |"
                   r"revocation|"
                   r"Invalid input for field/attribute", re.IGNORECASE)


def _spliced(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value with a hostile piece spliced in."""
    return st.tuples(valid, HOSTILE, st.integers(0, 60)).map(
        lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:])


def _value(draw: st.DrawFn, clean: bool, valid: st.SearchStrategy[str],
           odd: st.SearchStrategy[str] | None = None) -> str:
    """A valid value in a clean example; else valid, odd or hostile alike."""
    if clean:
        return draw(valid)
    return draw(st.one_of(valid, *([odd] if odd is not None else []), _spliced(valid)))


def _ref(draw: st.DrawFn, clean: bool, n: int) -> str:
    return _value(draw, clean, st.just(f"https://nslb.example/key-manager/v1/secrets/"
                                       f"0000000{n}-0000-4000-8000-00000000000{n}?{MARK}"))


def _list(draw: st.DrawFn, clean: bool, valid: st.SearchStrategy[str],
          odd: st.SearchStrategy[str]) -> list[str] | None:
    if draw(st.booleans()):
        return None
    size = draw(st.integers(1 if clean else 0, 3))
    return [_value(draw, clean, valid, odd) for _ in range(size)]


def _tls_options(draw: st.DrawFn, clean: bool) -> dict[str, Any]:
    """Ciphers, versions (a contiguous range in a clean example) and ALPN ids."""
    if clean and draw(st.booleans()):
        low = draw(st.integers(0, 3))
        high = draw(st.integers(low, 3))
        versions: list[str] | None = list(tls.TLS_VERSIONS[1 + low:2 + high])
    else:
        versions = _list(draw, clean, VERSIONS, ODD_VERSIONS)
    old = clean and bool(set(versions or ()) & {"TLSv1", "TLSv1.1"})
    return {"tls_ciphers": None if draw(st.booleans()) and not old
            else _value(draw, clean, OLD_CIPHERS if old else CIPHERS, ODD_CIPHERS),
            "tls_versions": versions,
            "alpn_protocols": _list(draw, clean, ALPN, ODD_ALPN)}


@st.composite
def listener_bodies(draw: st.DrawFn) -> dict[str, Any]:
    clean = draw(st.booleans())
    body: dict[str, Any] = {
        "loadbalancer_id": rc.LB_ID, "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
        "default_tls_container_ref": _ref(draw, clean, 1),
        "sni_container_refs": [_ref(draw, clean, n) for n in range(2, draw(st.integers(2, 4)))],
        **_tls_options(draw, clean),
        "hsts_max_age": draw(st.one_of(st.none(), st.integers(0, 2**31) if clean
                                       else st.integers(-5, 2**64))),
        "hsts_include_subdomains": draw(st.booleans()),
        "hsts_preload": draw(st.booleans()),
    }
    if body["hsts_max_age"] is None and clean:
        body["hsts_include_subdomains"] = body["hsts_preload"] = False
    if draw(st.booleans()):
        body["client_authentication"] = _value(draw, clean, AUTH, ODD_AUTH)
        body["client_ca_tls_container_ref"] = _ref(draw, clean, 5)
        if draw(st.booleans()):
            body["client_crl_container_ref"] = _ref(draw, clean, 6)
    return body


@st.composite
def pool_bodies(draw: st.DrawFn) -> dict[str, Any]:
    clean = draw(st.booleans())
    body: dict[str, Any] = {
        "loadbalancer_id": rc.LB_ID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
        "tls_enabled": True, **_tls_options(draw, clean)}
    if draw(st.booleans()):
        body["tls_container_ref"] = _ref(draw, clean, 7)
    if draw(st.booleans()):
        body["ca_tls_container_ref"] = _ref(draw, clean, 8)
        if draw(st.booleans()):
            body["crl_container_ref"] = _ref(draw, clean, 9)
    return body


NAMES = st.text(st.sampled_from("ab.-*'\"\\#$ \n\t%{};,:=/\u0662"), min_size=0, max_size=20)


def _refused(message: str) -> None:
    """A refusal is a clear error: it says which field or what is wrong."""
    assert message and CLEAR.search(message), message


def _validated(schema: type[Any], body: dict[str, Any], root: str, kind: str
               ) -> dict[str, Any] | None:
    """The fields as the API stores them, or None (after checking the error is clear)."""
    try:
        fields = parse(schema, body, root).model_dump(exclude_none=True)
        if kind == "listener":
            api_tls.listener_defaults(fields)
            api_tls.listener_rules(fields)
        else:
            api_tls.pool_defaults(fields)
            api_tls.pool_rules(fields)
        wanted = [r for name in (*api_tls.LISTENER_FIELDS, *api_tls.POOL_FIELDS)
                  if name.endswith("_ref") or name.endswith("_refs")
                  for r in _as_list(fields.get(name))]
        bad = [r for r in wanted if not _parses(r)]
        if bad:
            raise api_tls.RetrievalFailure(bad)
    except BadRequest as exc:
        _refused(exc.message)
        event(f"{kind} refused")
        return None
    return fields


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value] if value else []


def _parses(ref: str) -> bool:
    try:
        refs.parse(ref)
    except refs.BadRef:
        return False
    return True


def _fields(cls: type[Any], values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in cls.__dataclass_fields__
            and k not in ("loadbalancer_id", "default_pool_id")}


def _snapshot(listener: Listener, pool: Pool, name: str, monitored: bool,
              plain: bool = False) -> LoadBalancerSnapshot:
    """The LB; with `plain`, the same LB with its TLS options left out (the baseline)."""
    if plain:
        listener = dataclasses.replace(listener, tls_ciphers=None, tls_versions=None,
                                       alpn_protocols=None, hsts_max_age=None,
                                       client_ca_tls_container_ref=None,
                                       client_crl_container_ref=None)
        pool = dataclasses.replace(pool, tls_ciphers=None, tls_versions=None,
                                   alpn_protocols=None, tls_container_ref=None,
                                   ca_tls_container_ref=None, crl_container_ref=None)
    # hostile names as the certificate's CN and dNSNames (SNI matches them): none of
    # them may reach the config or the certificate list
    sni_name = f"{MARK}{name}".encode("ascii", "replace").decode()
    cert = SERVERS.server(f"www.{MARK}.test", sni_name, cn=f"{MARK}{name}"[:64])
    default = certs.from_pkcs12(cert.pkcs12()).pem
    monitors = (HealthMonitor(id=rc.HM_ID, loadbalancer_id=rc.LB_ID, pool_id=pool.id,
                              type="HTTPS", url_path="/"),) if monitored else ()
    snap = rc.snapshot(listeners=(listener,), pools=(pool,), members=rc.members(),
                       monitors=monitors)
    return dataclasses.replace(snap, tls={
        listener.id: ListenerTls(
            default=default, sni=tuple(default for _ in listener.sni_container_refs),
            client_ca=CLIENTS_PEM if listener.client_ca_tls_container_ref else None,
            client_crl=CLIENTS_CRL if listener.client_crl_container_ref else None),
        pool.id: PoolTls(certificate=LB_CLIENT if pool.tls_container_ref else None,
                         ca=CLIENTS_PEM if pool.ca_tls_container_ref else None,
                         crl=CLIENTS_CRL if pool.crl_container_ref else None)})


def _protocol_words(ciphers: str | None, versions: list[str] | None,
                    alpn: list[str] | None) -> list[str]:
    """What the TLS options must render as, spelled out independently of nslb.render."""
    words = []
    if ciphers:
        old = any(v in ("SSLv3", "TLSv1", "TLSv1.1") for v in versions or ())
        words += ["ciphers", ciphers + (":@SECLEVEL=0" if old and "@SECLEVEL" not in ciphers
                                        else "")]
    if versions:
        ordered = sorted(versions, key=tls.TLS_VERSIONS.index)
        words += ["ssl-min-ver", tls.HAPROXY_VERSION[ordered[0]],
                  "ssl-max-ver", tls.HAPROXY_VERSION[ordered[-1]]]
    if alpn:
        words += ["alpn", ",".join(alpn)]
    return words


def _bind_words(listener: Listener, base: str) -> list[str]:
    own = f"{base}/tls/{listener.id}"
    words = ["bind", "10.250.0.10:443", "ssl", "crt-list", f"{own}/certs.crt-list"]
    if listener.client_ca_tls_container_ref:
        mode = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}
        words += ["ca-file", f"{own}/client.ca.pem",
                  "verify", mode[listener.client_authentication]]
        if listener.client_crl_container_ref:
            words += ["crl-file", f"{own}/client.crl.pem"]
    return words + _protocol_words(listener.tls_ciphers, listener.tls_versions,
                                   listener.alpn_protocols)


def _server_words(pool: Pool, base: str, member: Any, monitored: bool) -> list[str]:
    own = f"{base}/tls/{pool.id}"
    words = ["server", member.id, f"{member.address}:{member.protocol_port}", "weight", "1"]
    if monitored:
        words += ["check", "check-ssl"]
        if pool.alpn_protocols:
            words += ["check-alpn", ",".join(pool.alpn_protocols)]
        words += ["inter", "5s", "fall", "3", "rise", "3"]
    words.append("ssl")
    if pool.tls_container_ref:
        words += ["crt", f"{own}/client.crt.pem"]
    if pool.ca_tls_container_ref:
        words += ["ca-file", f"{own}/members.ca.pem"]
        if pool.crl_container_ref:
            words += ["crl-file", f"{own}/members.crl.pem"]
        words += ["verify", "required"]
    else:
        words += ["verify", "none"]
    return words + ["sni", "ssl_fc_sni"] + _protocol_words(pool.tls_ciphers, pool.tls_versions,
                                                           pool.alpn_protocols)


def _hsts_line(listener: Listener) -> str | None:
    if listener.hsts_max_age is None:
        return None
    value = f"max-age={listener.hsts_max_age};"
    value += " includeSubDomains;" if listener.hsts_include_subdomains else ""
    value += " preload;" if listener.hsts_preload else ""
    return f'    http-response set-header Strict-Transport-Security "{value}"'


def _tls_owned(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("bind ", "server ", "http-response set-header Strict-"))


def _haproxy_accepts(snap: LoadBalancerSnapshot) -> None:
    if HAPROXY is None:
        return
    with tempfile.TemporaryDirectory(prefix="nslb-p", dir="/tmp") as tmp:
        files = render_files(snap, state_dir=tmp, fd_limit=20000)
        here = amphora_dir(tmp, snap.lb.id)
        for name, text in files.items():
            (here / name).parent.mkdir(parents=True, exist_ok=True)
            (here / name).write_text(text)
        result = subprocess.run([HAPROXY, "-c", "-q", "-f", str(here / "haproxy.cfg")],
                                capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout + result.stderr, result.stdout + result.stderr


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(listener_bodies(), pool_bodies(), NAMES, st.booleans())
def test_hostile_tls_values_are_refused_or_render_only_what_they_earn(
        listener_body: dict[str, Any], pool_body: dict[str, Any], name: str,
        monitored: bool) -> None:
    listener_fields = _validated(ListenerCreate, listener_body, "listener", "listener")
    pool_fields = _validated(PoolCreate, pool_body, "pool", "pool")
    if listener_fields is None or pool_fields is None:
        return
    event("rendered")
    listener = Listener(id=rc.LISTENER_ID, loadbalancer_id=rc.LB_ID, default_pool_id=rc.POOL_ID,
                        **_fields(Listener, listener_fields))
    pool = Pool(id=rc.POOL_ID, loadbalancer_id=rc.LB_ID, **_fields(Pool, pool_fields))
    snap = _snapshot(listener, pool, name, monitored)
    files = render_files(snap, state_dir=STATE_DIR, fd_limit=20000)
    text = files["haproxy.cfg"]
    base = str(amphora_dir(STATE_DIR, rc.LB_ID))

    # nothing but the TLS-owned lines differ from the same LB without TLS options
    plain = render_files(_snapshot(listener, pool, name, monitored, plain=True),
                         state_dir=STATE_DIR, fd_limit=20000)["haproxy.cfg"]
    lines = text.splitlines()
    assert [x for x in lines if not _tls_owned(x)] == \
        [x for x in plain.splitlines() if not _tls_owned(x)]
    # the TLS-owned lines hold exactly the words the values earn
    binds = [x.split() for x in lines if x.strip().startswith("bind ")]
    assert binds == [_bind_words(listener, base)]
    hsts = [x for x in lines if x.strip().startswith("http-response set-header Strict-")]
    assert hsts == ([line] if (line := _hsts_line(listener)) else [])
    servers = [x.split() for x in lines if x.strip().startswith("server ")]
    assert servers == [_server_words(pool, base, m, monitored) for m in snap.members]
    # refs and certificate names name nothing in the config
    for content in (text, *[t for n, t in files.items() if n.endswith(tls.CRT_LIST)]):
        assert MARK not in content
    _haproxy_accepts(snap)
