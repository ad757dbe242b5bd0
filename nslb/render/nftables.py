"""The NAT rules of a floating IP router as an nftables file. Pure, like the rest of render/.

Inbound, each floating address is DNATed to its fixed address (only on the external
interface); outbound, the fixed address is SNATed to its floating address. The forward
chain lets through only that: replies, DNATed connections, and new connections from a
fixed address that has a floating IP; anything else the internal subnet sends through its
gateway is dropped rather than leaked onto the external network with a private source.

nft runs as root and parses this text, so every value passes nslb.render.values on its way
into the view, exactly as for haproxy.cfg and keepalived.conf: addresses in canonical
IPv4 spelling, interface names derived from ids that match the uuid grammar.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache

import jinja2

from nslb.model.router import RouterSpec
from nslb.netns.names import ns_ifname
from nslb.render import values as v
from nslb.render.haproxy import TEMPLATES

TABLE = "nslb_fip"


@dataclass(frozen=True)
class NatView:
    floating: str
    fixed: str


@dataclass(frozen=True)
class RouterView:
    router_id: str
    table: str
    external: str
    internal: str
    rules: tuple[NatView, ...]


def ipv4(value: object, what: str) -> str:
    """A canonical IPv4 address (floating IPs and their fixed addresses are IPv4 only)."""
    address = v.address(value, what)
    if ipaddress.ip_address(address).version != 4:
        raise v.UnsafeValue(what)
    return address


def build_view(spec: RouterSpec) -> RouterView:
    rules = tuple(NatView(floating=ipv4(r.floating, "floating address"),
                          fixed=ipv4(r.fixed, "fixed address")) for r in spec.rules)
    floating = [r.floating for r in rules]
    if len(set(floating)) != len(floating):
        raise v.UnsafeValue("floating address (one address, two rules)")
    return RouterView(
        router_id=v.uuid(spec.router_id, "router id"),
        table=TABLE,
        external=ns_ifname(v.uuid(spec.external.port_id, "external port id")),
        internal=ns_ifname(v.uuid(spec.internal.port_id, "internal port id")),
        rules=rules,
    )


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("nftables.j2")


def render_nftables(spec: RouterSpec) -> str:
    """The router's rule set; raises UnsafeValue when a value is outside its grammar."""
    return _template().render(v=build_view(spec))
