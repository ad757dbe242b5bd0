"""The sock_diag request and reply parsing of nslb.netns.connections (the namespace and
kernel side runs in tests/integration/test_failover_handover.py)."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest

from nslb.netns import connections as c


def reply(family: int, address: str, state: int = c.ESTABLISHED) -> bytes:
    packed = ipaddress.ip_address(address).packed.ljust(16, b"\0")
    body = struct.pack("=BBBBHH", family, state, 0, 0, 80, 12345) + packed + b"\0" * 16 \
        + struct.pack("=I8x", 0) + struct.pack("=IIIII", 0, 0, 0, 0, 0)
    return c.NLMSG_HEADER.pack(c.NLMSG_HEADER.size + len(body), c.SOCK_DIAG_BY_FAMILY, 2,
                               1, 0) + body


def done() -> bytes:
    return c.NLMSG_HEADER.pack(c.NLMSG_HEADER.size + 4, c.NLMSG_DONE, 2, 1, 0) + b"\0" * 4


def test_the_request_asks_the_kernel_for_tcp_sockets_in_flight_only() -> None:
    data = c.request(socket.AF_INET)
    length, kind, flags, _, _ = c.NLMSG_HEADER.unpack_from(data)
    family, protocol, _ext, states = c.REQUEST.unpack_from(data, c.NLMSG_HEADER.size)
    assert (length, kind) == (len(data), c.SOCK_DIAG_BY_FAMILY)
    assert flags == c.NLM_F_REQUEST | c.NLM_F_DUMP
    assert (family, protocol) == (socket.AF_INET, socket.IPPROTO_TCP)
    for state in c.IN_FLIGHT:
        assert states & (1 << state)
    for done_state in (5, 6, 7, 10):  # FIN_WAIT2, TIME_WAIT, CLOSE, LISTEN
        assert not states & (1 << done_state)


def test_local_addresses_of_a_batch_and_its_end() -> None:
    batch = reply(socket.AF_INET, "10.0.0.1") + reply(socket.AF_INET, "10.0.0.2")
    found, ended = c.local_addresses(batch, socket.AF_INET)
    assert found == [ipaddress.ip_address("10.0.0.1").packed,
                     ipaddress.ip_address("10.0.0.2").packed]
    assert not ended
    found, ended = c.local_addresses(reply(socket.AF_INET6, "2001:db8::1") + done(),
                                     socket.AF_INET6)
    assert found == [ipaddress.ip_address("2001:db8::1").packed]
    assert ended


def test_a_kernel_error_is_an_oserror() -> None:
    error = c.NLMSG_HEADER.pack(c.NLMSG_HEADER.size + 4, c.NLMSG_ERROR, 0, 1, 0) \
        + struct.pack("=i", -1)
    with pytest.raises(OSError):
        c.local_addresses(error, socket.AF_INET)
