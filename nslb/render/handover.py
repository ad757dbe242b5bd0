"""The nftables gate of an amphora's VIP. Pure.

Why: a client whose new connection is refused (RST) has a failed request; one whose SYN
is dropped sends it again after 1 s (then 3 s), by which time the VIP answers from the
peer. Two moments need that:

- haproxy is not listening while its amphora still holds the VIP (it died, and keepalived
  has not given the VIP up yet): the gate lets a SYN through only when a socket takes it
  (the `socket` expression finds haproxy's listener) and drops it otherwise. A SYN to a
  port no listener uses is dropped too, as an Octavia amphora's security group does.
- a failover removes the amphora holding the VIP: when the VIP moves, a connection the old
  holder was still serving breaks (the client's next segment reaches the new holder, which
  has no such socket and answers RST; the old holder can no longer send from an address
  it lost). So the amphora first holds every new connection back (HOLD puts `drop` first
  in the gate), finishes the ones in flight, and only then lets keepalived hand the VIP
  over (nslb.amphora.namespace).

A STANDALONE amphora has the same two moments: its replacement (failover, drain) plugs
the VIP before its haproxy listens, and the amphora being removed serves connections until
it goes. Its gate covers only the ports of its enabled listeners, so a SYN to a disabled
listener or to no listener is still refused at once, as before (a client sees "refused",
not a timeout). A pair's gate covers every port, as Octavia's security group does.

The file is part of the amphora's bundle; the driver loads it into the namespace with
every full apply and again, with HOLD, at hand-over. It replaces its own table in one
transaction, so loading it twice changes nothing. nft parses it as root, so the VIP passes
nslb.render.values like every value of a config.
"""

from __future__ import annotations

import ipaddress

from nslb.render import values as v

TABLE = "nslb_vip"
# Appended to the file at hand-over: every new connection to the VIP waits.
HOLD = f"insert rule inet {TABLE} gate drop\n"


def render_handover(vip: str, ports: tuple[int, ...] | None = None) -> str:
    """The gate of new TCP connections (a SYN without ACK) to `vip`: to any port, or
    to `ports` only (a STANDALONE amphora's enabled listeners; at least one)."""
    address = v.address(vip, "VIP address")
    family = "ip" if ipaddress.ip_address(address).version == 4 else "ip6"
    scope = "" if ports is None else f"tcp dport {{ {_ports(ports)} }} "
    return (f"# new connections to the VIP: let in when haproxy listens, else dropped (the\n"
            f"# client sends its SYN again); all dropped while the amphora hands the VIP over\n"
            f"table inet {TABLE} {{}}\n"
            f"delete table inet {TABLE}\n"
            f"table inet {TABLE} {{\n"
            f"    chain input {{\n"
            f"        type filter hook input priority filter; policy accept;\n"
            f"        {family} daddr {address} {scope}tcp flags syn / syn,ack jump gate\n"
            f"    }}\n"
            f"    chain gate {{\n"
            f"        socket transparent 0 accept\n"
            f"        socket transparent 1 accept\n"
            f"        drop\n"
            f"    }}\n"
            f"}}\n")


def _ports(ports: tuple[int, ...]) -> str:
    """The listener ports as an nft set's elements, each checked to be a TCP port."""
    checked = sorted({p for p in ports if isinstance(p, int) and not isinstance(p, bool)
                      and 1 <= p <= 65535})
    if not checked or len(checked) != len(set(ports)):
        raise v.UnsafeValue(f"listener ports outside 1..65535: {ports!r}")
    return ", ".join(str(p) for p in checked)


def handover_address(rules: str) -> str | None:
    """The VIP a rendered gate file guards (what the driver waits on at hand-over), or
    None when `rules` is not such a file."""
    for line in rules.splitlines():
        words = line.split()
        if len(words) > 2 and words[0] in ("ip", "ip6") and words[1] == "daddr":
            try:
                return v.address(words[2], "VIP address")
            except v.UnsafeValue:
                return None
    return None
