"""Strict parsing of IP addresses and networks: the one place untrusted text becomes an address.

Python's `ipaddress` accepts an IPv6 *scope id* (`fe80::1%<anything>`) and keeps it
verbatim, newlines, spaces, `]` and `#` included. Such a value rendered into haproxy.cfg
was a config injection (probe 2026-12-03, F1), and as text it also defeated uniqueness
(`fd88::1:77` and `fd88::1:77%x` were two allocations of one address). nslb never needs a
scope id, so every address the API accepts goes through here: scope ids, whitespace and
anything that is not plain ASCII are refused, and the canonical spelling is returned.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Digits, hex digits, dots, colons and (for networks) one slash: nothing else can be part
# of an address nslb accepts. Checked before `ipaddress` sees the text.
_ADDRESS_CHARS = re.compile(r"[0-9A-Fa-f.:]{2,45}")
_NETWORK_CHARS = re.compile(r"[0-9A-Fa-f.:]{2,45}/[0-9]{1,3}")


class AddressError(ValueError):
    """Not a plain IP address (or network); the message never repeats the input."""


def parse_ip(text: object) -> IPAddress:
    """The address spelled by `text`; AddressError for scope ids and anything unusual."""
    if not isinstance(text, str) or not _ADDRESS_CHARS.fullmatch(text):
        raise AddressError("Invalid IP address")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise AddressError("Invalid IP address") from None


def canonical_ip(text: object) -> str:
    """The canonical spelling of an address (the form stored, compared and rendered)."""
    if isinstance(text, str):
        return _canonical_text(text)
    return str(parse_ip(text))


def ip_value(text: str) -> int:
    """The address spelled by `text` as an integer (AddressError as parse_ip)."""
    return _value_of_text(text)


# A new port's next free address compares with every allocated one of its subnet, read
# from the database as text each time: ~10 ms of parsing per VIP at 1,000 LBs, nearly all
# of it the same addresses again. Parsing is a pure function, so its answers are kept.
@lru_cache(maxsize=1 << 15)
def _canonical_text(text: str) -> str:
    return str(parse_ip(text))


@lru_cache(maxsize=1 << 15)
def _value_of_text(text: str) -> int:
    return int(parse_ip(text))


def parse_network(text: object, strict: bool = False) -> IPNetwork:
    """The network spelled by `text` (`addr/prefix`, or a bare address for its host
    network); host bits allowed unless `strict`."""
    if isinstance(text, str) and "/" not in text:
        try:
            return ipaddress.ip_network(parse_ip(text))
        except AddressError:
            raise AddressError("Invalid CIDR") from None
    if not isinstance(text, str) or not _NETWORK_CHARS.fullmatch(text):
        raise AddressError("Invalid CIDR")
    try:
        return ipaddress.ip_network(text, strict=strict)
    except ValueError:
        raise AddressError("Invalid CIDR") from None


def canonical_network(text: object) -> str:
    return str(parse_network(text))


def network_list(text: object) -> list[str]:
    """Addresses or CIDRs separated by spaces or commas (an L7 SOURCE_IP rule's value), each
    in its canonical network spelling; a bare address is a /32 or /128."""
    if not isinstance(text, str):
        raise AddressError("Invalid IP network")
    words = [w for w in re.split(r"[ ,]+", text) if w]
    return [canonical_network(w if "/" in w else f"{w}/{128 if ':' in w else 32}")
            for w in words]
