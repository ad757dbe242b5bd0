"""VXLAN values every room shares, pure: the VNI range, the encapsulation overhead (what a
network's MTU loses to it), and the checks of values that cross the wire."""

from __future__ import annotations

import ipaddress
import re

VNI_MIN, VNI_MAX = 1, 2**24 - 1
# What VXLAN adds to every frame on an IPv4 underlay: outer IPv4 (20) + UDP (8) + VXLAN
# header (8) + the inner Ethernet header (14), i.e. Neutron's VXLAN_ENCAP_OVERHEAD (30)
# plus its IPv4 header length (20). An IPv6 underlay's header is 20 bytes longer.
VXLAN_OVERHEAD_V4 = 50
VXLAN_OVERHEAD_V6 = 70


class BadSegment(ValueError):
    """A VXLAN value that cannot be used (a VNI out of range, a bad underlay address)."""


def overlay_mtu(underlay_mtu: int, underlay_version: int = 4) -> int:
    """The MTU a VXLAN network offers: the underlay's minus the encapsulation."""
    return underlay_mtu - (VXLAN_OVERHEAD_V6 if underlay_version == 6 else VXLAN_OVERHEAD_V4)


def check_vni(vni: object) -> int:
    if isinstance(vni, bool) or not isinstance(vni, int) or not VNI_MIN <= vni <= VNI_MAX:
        raise BadSegment(f"VNI must be an integer {VNI_MIN}..{VNI_MAX}, got {vni!r}")
    return vni


def check_address(value: object) -> str:
    """A unicast underlay address, in its canonical text form."""
    if not isinstance(value, str):
        raise BadSegment(f"not an underlay IP address: {value!r}")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise BadSegment(f"not an underlay IP address: {value!r}") from None
    if address.is_multicast or address.is_unspecified:
        raise BadSegment(f"not a unicast underlay IP address: {value!r}")
    return str(address)


_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


def check_mac(value: object) -> str:
    """A unicast Ethernet address, lower case with colons (how netlink prints it back).
    Peers' MACs go into fdb and neighbour entries as root: nothing else gets through."""
    if not isinstance(value, str) or not _MAC.fullmatch(value.lower()):
        raise BadSegment(f"not a MAC address: {value!r}")
    mac = value.lower()
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise BadSegment(f"not a unicast MAC address: {value!r}")
    return mac


def parse_range(text: str) -> tuple[int, int]:
    """`--vxlan-vni-range MIN:MAX` (Neutron's vni_ranges entry) as two VNIs."""
    low, sep, high = text.partition(":")
    try:
        first, last = int(low), int(high)
    except ValueError:
        raise BadSegment(f"VNI range must be MIN:MAX, got {text!r}") from None
    if not sep:
        raise BadSegment(f"VNI range must be MIN:MAX, got {text!r}")
    check_vni(first)
    check_vni(last)
    if last < first:
        raise BadSegment(f"VNI range {text!r}: end of tunnel range is less than start of "
                         "tunnel range")
    return first, last
