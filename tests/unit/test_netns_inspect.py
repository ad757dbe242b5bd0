"""The host-side netlink reader decodes exactly what the kernel sends (messages built here
byte for byte as the kernel lays them out), and the route files of /proc as they read."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from nslb.netns.inspect import (
    IFA_ADDRESS,
    IFA_LOCAL,
    IFADDR,
    IFINFO,
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_LINK,
    IFLA_LINK_NETNSID,
    IFLA_MASTER,
    IFLA_MTU,
    _attr,
    decode_address,
    decode_link,
    parse_ipv4_route,
    parse_ipv6_route,
    routes_of,
)


def _link_body(name: str, flags: int, **attrs: bytes) -> bytes:
    body = IFINFO.pack(socket.AF_UNSPEC, 1, 7, flags, 0)
    body += _attr(IFLA_IFNAME, name.encode() + b"\0")
    for kind, payload in attrs.items():
        body += _attr(int(kind.removeprefix("a")), payload)
    return body


def test_a_veth_end_with_its_peer_and_bridge() -> None:
    body = _link_body("nsh0123456789a", 0x1043, **{
        f"a{IFLA_MTU}": struct.pack("=I", 1450),
        f"a{IFLA_ADDRESS}": bytes.fromhex("fa163e00000a"),
        f"a{IFLA_MASTER}": struct.pack("=I", 3),
        f"a{IFLA_LINK}": struct.pack("=I", 2),
        f"a{IFLA_LINK_NETNSID}": struct.pack("=i", 5)})
    link = decode_link(body)
    assert (link.index, link.name, link.up, link.mtu, link.mac) == (
        7, "nsh0123456789a", True, 1450, "fa:16:3e:00:00:0a")
    assert (link.master, link.peer_index, link.peer_netnsid) == (3, 2, 5)


def test_a_link_without_optional_attributes_is_down_and_unenslaved() -> None:
    link = decode_link(_link_body("lo", 0))
    assert not link.up and link.master is None and link.peer_netnsid is None


def _address_body(family: int, prefix: int, index: int, address: str,
                  kind: int = IFA_ADDRESS) -> bytes:
    return IFADDR.pack(family, prefix, 0, 0, index) + _attr(
        kind, socket.inet_pton(family, address))


def test_addresses_prefer_the_local_address_and_skip_link_local_ones() -> None:
    v4 = IFADDR.pack(socket.AF_INET, 24, 0, 0, 4) + _attr(
        IFA_ADDRESS, socket.inet_aton("10.0.0.9")) + _attr(IFA_LOCAL, socket.inet_aton("10.0.0.5"))
    assert decode_address(v4) == (4, "10.0.0.5/24")
    assert decode_address(_address_body(socket.AF_INET6, 64, 4, "fd00::5")) == (4, "fd00::5/64")
    assert decode_address(_address_body(socket.AF_INET6, 64, 4, "fe80::1")) is None
    assert decode_address(_address_body(socket.AF_INET, 16, 4, "169.254.1.1")) is None


def _hex_native(address: str) -> str:
    return f"{struct.unpack('=I', socket.inet_aton(address))[0]:08X}"


def test_ipv4_routes_with_a_gateway() -> None:
    default = (f"nsv0123456789a\t00000000\t{_hex_native('10.0.0.1')}\t0003\t0\t0\t0\t"
               "00000000\t0\t0\t0")
    host_route = (f"nsv0123456789a\t{_hex_native('10.20.0.0')}\t{_hex_native('10.0.0.2')}\t"
                  f"0003\t0\t0\t0\t{_hex_native('255.255.0.0')}\t0\t0\t0")
    on_link = (f"nsv0123456789a\t{_hex_native('10.0.0.0')}\t00000000\t0001\t0\t0\t0\t"
               f"{_hex_native('255.255.255.0')}\t0\t0\t0")
    assert parse_ipv4_route(default) == ("nsv0123456789a", "0.0.0.0/0", "10.0.0.1")
    assert parse_ipv4_route(host_route) == ("nsv0123456789a", "10.20.0.0/16", "10.0.0.2")
    assert parse_ipv4_route(on_link) is None


def test_ipv6_routes_with_a_gateway() -> None:
    zero = "0" * 32
    gateway = "fd000000000000000000000000000001"
    line = f"{zero} 00 {zero} 00 {gateway} 00000400 00000001 00000000 00000003 nsv0123456789a"
    assert parse_ipv6_route(line) == ("nsv0123456789a", "::/0", "fd00::1")
    assert parse_ipv6_route(f"{zero} 00 {zero} 00 {zero} 00000400 1 0 1 lo") is None


def test_routes_of_a_process_that_is_gone_are_empty(tmp_path: Path) -> None:
    assert routes_of(424242, tmp_path) == set()
