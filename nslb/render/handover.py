"""The nftables rules an ACTIVE_STANDBY amphora loads before it gives its VIP away. Pure.

Why: when the VIP moves, a connection the old holder was still serving breaks: the
client's next segment reaches the new holder, which has no such socket and answers RST,
and the old holder can no longer send from an address it lost. So an amphora on its way
out (failover) first stops taking new connections while it still holds the VIP, finishes
the ones in flight, and only then lets keepalived hand the VIP over
(nslb.amphora.namespace). New connections are stopped by dropping their SYNs silently,
never by refusing them: a client whose SYN is dropped sends it again (after 1 s, then 3 s),
and by then the VIP answers from the peer. A refused one (RST) would be a failed request.

The file is part of the amphora's bundle (written next to keepalived.conf) and loaded only
at hand-over; the namespace goes away right after, and the table with it. nft parses it as
root, so the VIP passes nslb.render.values like every value of a config.
"""

from __future__ import annotations

import ipaddress

from nslb.render import values as v

TABLE = "nslb_handover"


def render_handover(vip: str) -> str:
    """Drop every new TCP connection (a SYN without ACK) to `vip`, any port."""
    address = v.address(vip, "VIP address")
    family = "ip" if ipaddress.ip_address(address).version == 4 else "ip6"
    return (f"# new connections to the VIP wait for their SYN's retransmission while the\n"
            f"# amphora finishes the ones in flight and hands the VIP to its peer\n"
            f"table inet {TABLE} {{\n"
            f"    chain input {{\n"
            f"        type filter hook input priority filter; policy accept;\n"
            f"        {family} daddr {address} tcp flags syn / syn,ack drop\n"
            f"    }}\n"
            f"}}\n")


def handover_address(rules: str) -> str | None:
    """The VIP a rendered hand-over file holds back (what the driver waits on), or None
    when `rules` is not such a file."""
    for line in rules.splitlines():
        words = line.split()
        if len(words) > 2 and words[0] in ("ip", "ip6") and words[1] == "daddr":
            try:
                return v.address(words[2], "VIP address")
            except v.UnsafeValue:
                return None
    return None
