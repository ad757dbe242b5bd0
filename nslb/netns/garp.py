"""Gratuitous ARP / unsolicited neighbour advertisement for a freshly plugged address.

Packets are built here and sent from raw sockets opened inside the namespace (nslb's
namespace thread creates them there, see hopper.py; the sending happens outside). No
external tool (arping) is needed, and IPv6 works the same way.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from nslb.netns.namespaces import socket_in

ETH_P_ARP = 0x0806
ALL_NODES = "ff02::1"
ND_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000
OPT_TARGET_LLADDR = 2
IPV6_MULTICAST_IF = 17
IPV6_MULTICAST_HOPS = 18


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def arp_announcement(mac: str, address: str) -> bytes:
    """A broadcast ARP request for our own address (what `arping -U` sends)."""
    hw = _mac_bytes(mac)
    ip = ipaddress.IPv4Address(address).packed
    eth = b"\xff" * 6 + hw + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + ip + b"\x00" * 6 + ip
    return eth + arp


def neighbour_advertisement(mac: str, address: str) -> bytes:
    """ICMPv6 NA with the override flag; the kernel fills in the checksum."""
    target = ipaddress.IPv6Address(address).packed
    header = struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE)
    option = struct.pack("!BB", OPT_TARGET_LLADDR, 1) + _mac_bytes(mac)
    return header + target + option


def announce(namespace: str, ifname: str, ifindex: int, mac: str, address: str) -> None:
    """Tell the segment that `address` now lives at `mac` (updates stale caches and switches)."""
    if ipaddress.ip_address(address).version == 4:
        _send_arp(namespace, ifname, mac, address)
    else:
        _send_na(namespace, ifindex, mac, address)


def _send_arp(namespace: str, ifname: str, mac: str, address: str) -> None:
    sock = socket_in(namespace, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    with sock:
        sock.bind((ifname, ETH_P_ARP))
        sock.send(arp_announcement(mac, address))


def _send_na(namespace: str, ifindex: int, mac: str, address: str) -> None:
    sock = socket_in(namespace, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    with sock:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex)
        sock.bind((address, 0, 0, ifindex))
        sock.sendto(neighbour_advertisement(mac, address), (ALL_NODES, 0, 0, ifindex))
