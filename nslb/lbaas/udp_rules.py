"""Octavia's API rules for UDP (and SCTP) listeners, pools, members and health monitors,
with Octavia's messages, run in the order its controllers run them.

UDP is forwarded by the kernel (nftables in the amphora's namespace, render/udp.py), not
by HAProxy, so these objects follow Octavia's LVS rules: no TLS, no header insertion, no L7,
SOURCE_IP persistence with a timeout and a granularity, UDP-CONNECT/TCP/HTTP monitors.
Octavia's API checks SCTP objects the same way before its provider is asked; nslb does too,
then answers 501 because this host's kernel has no SCTP.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from nslb.lbaas.errors import Invalid, Unsupported, ValidationFailure
from nslb.model.enums import KERNEL_PROTOCOLS

# Octavia's [api_settings] udp_connect_min_interval_health_monitor (its default).
UDP_CONNECT_MIN_DELAY = 3
# What a SCTP listener, pool or monitor is answered with (501).
NO_SCTP = "SCTP (the kernel of this host has no SCTP support)"
# Octavia's LVS_PROTOCOLS spelled in its messages.
KERNEL_PROTOCOL_NAMES = "UDP/SCTP"
TLS_REFS = ("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref")
UDP_HM_TYPES = ("UDP-CONNECT", "SCTP", "TCP", "HTTP")
# Why LEAST_CONNECTIONS is refused for UDP pools rather than approximated.
NO_LEAST_CONNECTIONS = ("lb_algorithm LEAST_CONNECTIONS for UDP pools (nftables picks a "
                        "member for each new flow and cannot see how many flows each "
                        "member holds; use ROUND_ROBIN or SOURCE_IP)")


def kernel(protocol: str) -> bool:
    """True for the protocols the kernel forwards (UDP, and SCTP were it there)."""
    return protocol in KERNEL_PROTOCOLS


# --- listeners ---------------------------------------------------------------------------


def check_listener_create(fields: dict[str, Any], protocol: str) -> None:
    """Octavia's _validate_create_listener for a UDP/SCTP listener: header insertion is
    refused first (as an invalid option), then any certificate reference."""
    if not kernel(protocol):
        return
    if fields.get("insert_headers"):
        raise Invalid(f"insert-headers is not a valid option for a {protocol} protocol "
                      "listener.")
    if any(fields.get(name) for name in TLS_REFS):
        raise ValidationFailure(f"{protocol} protocol listener does not support TLS.")


def check_listener_update(changes: dict[str, Any], protocol: str) -> None:
    """Octavia's _validate_listener_PUT for a UDP/SCTP listener."""
    if kernel(protocol) and (changes.get("insert_headers")
                             or any(changes.get(name) for name in TLS_REFS)):
        raise ValidationFailure(f"{protocol} protocol listener does not support TLS or "
                                "header insertion.")


# --- pools -------------------------------------------------------------------------------


def check_persistence(sp: dict[str, Any] | None, protocol: str, update: bool = False) -> None:
    """Octavia's _validate_pool_request_for_udp_sctp for UDP/SCTP pools, and its refusal of
    the UDP-only fields on every other pool (create and update word it differently)."""
    if not sp:
        return
    if kernel(protocol):
        extra = sorted(k for k, value in sp.items() if value and k not in
                       ("type", "persistence_timeout", "persistence_granularity"))
        if sp.get("type") == "SOURCE_IP" and extra:
            raise ValidationFailure("session_persistence SOURCE_IP type for UDP and SCTP "
                                    "protocols only accepts: type, persistence_timeout, "
                                    "persistence_granularity.")
        if sp.get("cookie_name"):
            raise ValidationFailure(f"Cookie names are not supported for "
                                    f"{KERNEL_PROTOCOL_NAMES} pools.")
        if sp.get("type") in ("HTTP_COOKIE", "APP_COOKIE"):
            raise ValidationFailure(f"Session persistence of type {sp['type']} is not "
                                    f"supported for {KERNEL_PROTOCOL_NAMES} protocol pools.")
        return
    if sp.get("persistence_timeout") or sp.get("persistence_granularity"):
        pools = "UDP protocol pools" if update else "UDP and SCTP protocol pools"
        raise ValidationFailure(f"persistence_timeout and persistence_granularity is only "
                                f"for {pools}.")


def check_granularity(sp: dict[str, Any] | None, vip_address: str) -> None:
    """nftables masks the client address with the granularity, so it must be a mask of the
    VIP's family (Octavia would accept a mismatch and fail in the amphora)."""
    mask = (sp or {}).get("persistence_granularity")
    if not mask or not vip_address:
        return
    if ipaddress.ip_address(mask).version != ipaddress.ip_address(vip_address).version:
        raise ValidationFailure(f"persistence_granularity {mask} IP version incompatible "
                                f"with VIP {vip_address} IP version.")
    bits = int(ipaddress.ip_address(mask))
    inverted = ~bits & ((1 << ipaddress.ip_address(mask).max_prefixlen) - 1)
    if inverted & (inverted + 1):  # not ones followed by zeros
        raise ValidationFailure(f"persistence_granularity {mask} is not a netmask.")


def check_pool_algorithm(algorithm: str | None, protocol: str) -> None:
    if protocol == "UDP" and algorithm == "LEAST_CONNECTIONS":
        raise Unsupported(NO_LEAST_CONNECTIONS)


# --- members -----------------------------------------------------------------------------


def check_member_family(address: str, protocol: str, vip_address: str) -> None:
    """The kernel translates addresses within a family only (no NAT64): Octavia's amphora
    driver refuses a member of the other family than the VIP for UDP/SCTP pools (501)."""
    if not kernel(protocol) or not vip_address:
        return
    if ipaddress.ip_address(address).version != ipaddress.ip_address(vip_address).version:
        raise Unsupported(
            "This provider doesn't support mixing IPv4 and IPv6 addresses for its VIP and "
            f"members in {protocol} load balancers.")


# --- health monitors ---------------------------------------------------------------------


def check_monitor(hm_type: str, delay: int | None, pool_protocol: str) -> None:
    """Octavia's health monitor checks against the pool's protocol: UDP-CONNECT and SCTP
    only on UDP/SCTP pools; on those only UDP-CONNECT, SCTP, TCP and HTTP, and a
    UDP-CONNECT delay of at least UDP_CONNECT_MIN_DELAY seconds."""
    if not kernel(pool_protocol):
        if hm_type in ("UDP-CONNECT", "SCTP"):
            raise ValidationFailure(f"The {hm_type} type is only supported for pools of type "
                                    f"{KERNEL_PROTOCOL_NAMES}.")
        return
    if hm_type not in UDP_HM_TYPES:
        raise ValidationFailure(f"The associated pool protocol is {pool_protocol}, so only a "
                                f"{'/'.join(UDP_HM_TYPES)} health monitor is supported.")
    if hm_type == "UDP-CONNECT" and delay is not None and delay < UDP_CONNECT_MIN_DELAY:
        raise ValidationFailure(f"The request delay value {delay} should be larger than "
                                f"{UDP_CONNECT_MIN_DELAY} for UDP-CONNECT health monitor "
                                "type.")
