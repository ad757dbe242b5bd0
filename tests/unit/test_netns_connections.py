"""The sock_diag request and reply parsing of nslb.netns.connections (the namespace and
kernel side runs in tests/integration/test_failover_handover.py)."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from nslb.netns import connections as c


def reply(family: int, address: str, state: int = c.ESTABLISHED, port: int = 80) -> bytes:
    packed = ipaddress.ip_address(address).packed.ljust(16, b"\0")
    body = struct.pack("=BBBB", family, state, 0, 0) + struct.pack("!HH", port, 12345) \
        + packed + b"\0" * 16 \
        + struct.pack("=I8x", 0) + struct.pack("=IIIII", 0, 0, 0, 0, 0)
    return c.NLMSG_HEADER.pack(c.NLMSG_HEADER.size + len(body), c.SOCK_DIAG_BY_FAMILY, 2,
                               1, 0) + body


def done() -> bytes:
    return c.NLMSG_HEADER.pack(c.NLMSG_HEADER.size + 4, c.NLMSG_DONE, 2, 1, 0) + b"\0" * 4


def test_the_request_asks_the_kernel_for_tcp_sockets_in_flight_and_listening() -> None:
    data = c.request(socket.AF_INET)
    length, kind, flags, _, _ = c.NLMSG_HEADER.unpack_from(data)
    family, protocol, _ext, states = c.REQUEST.unpack_from(data, c.NLMSG_HEADER.size)
    assert (length, kind) == (len(data), c.SOCK_DIAG_BY_FAMILY)
    assert flags == c.NLM_F_REQUEST | c.NLM_F_DUMP
    assert (family, protocol) == (socket.AF_INET, socket.IPPROTO_TCP)
    for state in (*c.IN_FLIGHT, c.LISTEN):
        assert states & (1 << state)
    for done_state in (5, 6, 7):  # FIN_WAIT2, TIME_WAIT, CLOSE
        assert not states & (1 << done_state)


def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def test_local_sockets_of_a_batch_and_its_end() -> None:
    batch = reply(socket.AF_INET, "10.0.0.1") + reply(socket.AF_INET, "10.0.0.2",
                                                      c.LISTEN, 443)
    found, ended = c.local_sockets(batch, socket.AF_INET)
    assert found == [(c.ESTABLISHED, packed("10.0.0.1"), 80),
                     (c.LISTEN, packed("10.0.0.2"), 443)]
    assert not ended
    found, ended = c.local_sockets(reply(socket.AF_INET6, "2001:db8::1") + done(),
                                   socket.AF_INET6)
    assert found == [(c.ESTABLISHED, packed("2001:db8::1"), 80)]
    assert ended


def test_only_connections_a_listener_accepted_count() -> None:
    """haproxy's own connections to members and its health checks leave from the VIP of
    a STANDALONE amphora, from ephemeral ports: they are not waited for."""
    vip, other = packed("10.0.0.10"), packed("10.0.0.11")
    sockets = [(c.LISTEN, vip, 80), (c.LISTEN, bytes(4), 8443),
               (c.ESTABLISHED, vip, 80), (c.NEW_SYN_RECV, vip, 80),  # accepted by :80
               (c.CLOSE_WAIT, vip, 8443),  # by the wildcard listener
               (c.ESTABLISHED, vip, 41234), (c.SYN_RECV, vip, 51000),  # haproxy's own
               (c.ESTABLISHED, other, 80)]  # another address
    assert c.accepted(sockets, {vip}, socket.AF_INET) == 3
    assert c.accepted([(c.ESTABLISHED, vip, 80)], {vip}, socket.AF_INET) == 0


def test_a_kernel_error_is_an_oserror() -> None:
    error = c.NLMSG_HEADER.pack(c.NLMSG_HEADER.size + 4, c.NLMSG_ERROR, 0, 1, 0) \
        + struct.pack("=i", -1)
    with pytest.raises(OSError):
        c.local_sockets(error, socket.AF_INET)
