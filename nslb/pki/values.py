"""The grammar of what an agent says about itself when it joins: its name and the
address (IP or DNS name) and port the controller reaches it at. Strict, because the
address lands in a certificate and in URLs."""

from __future__ import annotations

import ipaddress
import re

from nslb.model.addresses import AddressError, canonical_ip

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_DNS = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                  r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class BadValue(ValueError):
    pass


def host_name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise BadValue("name must be 1-63 of letters, digits, '.', '_' and '-'")
    return value


def address(value: object) -> str:
    """An IP address in its canonical spelling, or a DNS name."""
    if not isinstance(value, str):
        raise BadValue("address must be a string")
    try:
        return canonical_ip(value)
    except (AddressError, ValueError):
        pass
    if _DNS.match(value) and not value.replace(".", "").isdigit():
        return value.lower()
    raise BadValue("address must be an IP address or a DNS name")


def port(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise BadValue("port must be an integer from 1 to 65535")
    return value


def count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**31 - 1:
        raise BadValue(f"{what} must be a non-negative integer")
    return value


def url_host(value: str) -> str:
    """How an address is written in a URL (IPv6 in brackets)."""
    try:
        return f"[{value}]" if ipaddress.ip_address(value).version == 6 else value
    except ValueError:
        return value
