"""One health check of one UDP pool member, as Octavia's monitor types for UDP pools mean
them (keepalived's checkers need IPVS, so nslb's UDP agent runs these itself):

- UDP-CONNECT: a datagram to the member; an ICMP port-unreachable answer means down, any
  reply or silence until the timeout means up (keepalived's UDP_CHECK; a UDP service need
  not answer an empty datagram).
- TCP: a TCP connection within the timeout.
- HTTP: a request whose status is one of `expected_codes`.

Each check returns True (up) or False (down) and never raises: every error means down.
"""

from __future__ import annotations

import http.client
import socket

from nslb.render.udp import MonitorView

PROBE = b"nslb-health-check\n"


def run(monitor: MonitorView, address: str, port: int) -> bool:
    try:
        if monitor.type == "UDP-CONNECT":
            return udp_connect(address, port, monitor.timeout)
        if monitor.type == "TCP":
            return tcp_connect(address, port, monitor.timeout)
        return http_check(monitor, address, port)
    except OSError:
        return False


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def udp_connect(address: str, port: int, timeout: float) -> bool:
    """A connected UDP socket learns of an ICMP port-unreachable as ECONNREFUSED on its
    next receive."""
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((address, port))
        sock.send(PROBE)
        try:
            sock.recv(2048)
        except TimeoutError:
            return True
        except ConnectionRefusedError:
            return False
        return True


def tcp_connect(address: str, port: int, timeout: float) -> bool:
    with socket.create_connection((address, port), timeout=timeout):
        return True


def expected(codes: str, status: int) -> bool:
    """Octavia's expected_codes: `200`, `200,202`, or `200-204`."""
    if "-" in codes:
        low, high = (int(x) for x in codes.split("-"))
        return low <= status <= high
    return status in {int(x) for x in codes.split(",")}


def http_check(monitor: MonitorView, address: str, port: int) -> bool:
    conn = http.client.HTTPConnection(address, port, timeout=monitor.timeout)
    if monitor.http_version == 1.0:
        conn._http_vsn, conn._http_vsn_str = 10, "HTTP/1.0"  # type: ignore[attr-defined]
    headers = {"Host": monitor.domain_name} if monitor.domain_name else {}
    try:
        conn.request(monitor.http_method, monitor.url_path, headers=headers)
        return expected(monitor.expected_codes, conn.getresponse().status)
    except http.client.HTTPException:
        return False
    finally:
        conn.close()
