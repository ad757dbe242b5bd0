"""Health monitor settings expressed as haproxy backend directives and server options."""

from __future__ import annotations

from nslb.model.enums import HealthMonitorType
from nslb.model.resources import HealthMonitor


def expand_expected_codes(codes: str | None) -> list[str]:
    """"200", "200,202", "200-204" -> sorted list of single status codes (Octavia's rule)."""
    found: set[int] = set()
    for part in (codes or "200").replace(" ", "").split(","):
        if not part:
            continue
        if "-" in part:
            low, high = part.split("-", 1)
            found.update(range(int(low), int(high) + 1))
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
    lines = [f"timeout check {hm.timeout}s"]
    if hm.type in (HealthMonitorType.HTTP, HealthMonitorType.HTTPS):
        lines.extend(_http_lines(hm))
    elif hm.type == HealthMonitorType.TLS_HELLO:
        lines.append("option ssl-hello-chk")
    elif hm.type == HealthMonitorType.PING:
        lines.append("option external-check")
        lines.append(f"external-check command {ping_command}")
    return lines


def _http_lines(hm: HealthMonitor) -> list[str]:
    method = hm.http_method or "GET"
    path = hm.url_path or "/"
    if hm.http_version:
        lines = [f"option httpchk {method} {path} HTTP/{hm.http_version:.1f}"]
        if hm.http_version >= 1.1 and hm.domain_name:
            lines.append(f"http-check send hdr Host {hm.domain_name}")
    else:
        lines = [f"option httpchk {method} {path}"]
    lines.append(expect_line(hm.expected_codes))
    return lines


def server_check_options(hm: HealthMonitor, monitor_address: str | None,
                         monitor_port: int | None) -> list[str]:
    """The ` check ...` options of every server of a monitored pool."""
    options = ["check"]
    if hm.type == HealthMonitorType.HTTPS:
        options.append("check-ssl verify none")
    options.append(f"inter {hm.delay}s fall {hm.max_retries_down} rise {hm.max_retries}")
    if monitor_address:
        options.append(f"addr {monitor_address}")
    if monitor_port:
        options.append(f"port {monitor_port}")
    return options


def needs_external_check(monitors: list[HealthMonitor]) -> bool:
    return any(hm.type == HealthMonitorType.PING for hm in monitors)
