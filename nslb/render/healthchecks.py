"""Health monitor settings expressed as haproxy backend directives and server options."""

from __future__ import annotations

from nslb.model.enums import HealthMonitorType, HttpMethod
from nslb.model.resources import HealthMonitor, Pool
from nslb.render import tls as tls_render
from nslb.render import values as v

MAX_SECONDS = v.MAX_INT // 1000  # HAProxy timers hold at most 2**31-1 ms


def expand_expected_codes(codes: str | None) -> list[str]:
    """"200", "200,202", "200-204" -> sorted list of single status codes (Octavia's rule)."""
    found: set[int] = set()
    checked = v.matching(codes or "200", "EXPECTED_CODES", "expected_codes")
    for part in checked.replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            if low > high:
                raise v.UnsafeValue("expected_codes")
            found.update(range(low, high + 1))
        else:
            found.add(int(part))
    return [str(code) for code in sorted(found)]


def expect_line(codes: str | None) -> str:
    """`http-check expect` for the expected codes: `status` for one, an anchored regex for many."""
    expanded = expand_expected_codes(codes)
    if len(expanded) == 1:
        return f"http-check expect status {expanded[0]}"
    return f"http-check expect rstatus ^({'|'.join(expanded)})$"


def backend_lines(hm: HealthMonitor, ping_command: str) -> list[str]:
    """Backend directives that configure the check of a health monitor."""
    lines = [f"timeout check {v.integer(hm.timeout, 0, MAX_SECONDS, 'timeout')}s"]
    if hm.type in (HealthMonitorType.HTTP, HealthMonitorType.HTTPS):
        lines.extend(_http_lines(hm))
    elif hm.type == HealthMonitorType.TLS_HELLO:
        lines.append("option ssl-hello-chk")
    elif hm.type == HealthMonitorType.PING:
        lines.append("option external-check")
        lines.append(f"external-check command {v.file_path(ping_command, 'ping command')}")
    return lines


def _http_lines(hm: HealthMonitor) -> list[str]:
    method = v.word(hm.http_method or "GET", set(HttpMethod), "http_method")
    path = v.quoted_url_path(hm.url_path or "/")
    if hm.http_version:
        version = v.word(f"{hm.http_version:.1f}", ("1.0", "1.1"), "http_version")
        lines = [f"option httpchk {method} {path} HTTP/{version}"]
        if version == "1.1" and hm.domain_name:
            domain = v.matching(hm.domain_name, "DOMAIN", "domain_name")
            lines.append(f"http-check send hdr Host {domain}")
    else:
        lines = [f"option httpchk {method} {path}"]
    lines.append(expect_line(hm.expected_codes))
    return lines


def server_check_options(hm: HealthMonitor, monitor_address: str | None,
                         monitor_port: int | None, pool: Pool | None = None) -> list[str]:
    """The ` check ...` options of every server of a monitored pool. An HTTPS check of a
    re-encrypting pool uses the pool's own TLS settings (its client certificate, CA and
    verification, versions, ciphers, and its ALPN list as `check-alpn`); without pool TLS
    it verifies nothing, as Octavia's does."""
    options = ["check"]
    if hm.type == HealthMonitorType.HTTPS:
        if pool is not None and pool.tls_enabled:
            options.append("check-ssl")
            alpn = tls_render.check_alpn(pool)
            if alpn:
                options.append(alpn)
        else:
            options.append("check-ssl verify none")
    delay = v.integer(hm.delay, 1, MAX_SECONDS, "delay")
    fall = v.integer(hm.max_retries_down, 1, 10, "max_retries_down")
    rise = v.integer(hm.max_retries, 1, 10, "max_retries")
    options.append(f"inter {delay}s fall {fall} rise {rise}")
    if monitor_address:
        # IPv6 in brackets: HAProxy reads the last colon of a bare `addr fd00::1` as a port
        # separator (the property test found it: `addr fd00::1` is refused, `addr
        # ::ffff:a00:1` silently checks another address).
        address = v.address(monitor_address, "monitor_address")
        options.append(f"addr [{address}]" if ":" in address else f"addr {address}")
    if monitor_port:
        options.append(f"port {v.port(monitor_port, 'monitor_port')}")
    return options


def needs_external_check(monitors: list[HealthMonitor]) -> bool:
    return any(hm.type == HealthMonitorType.PING for hm in monitors)
