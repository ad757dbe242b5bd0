"""What one floating IP router should be, as plain data: the contract between the floating
IP reconciler (which builds it from the database) and the data plane (which plugs the
router's two ports and loads its NAT rules). Like a bundle, it names physical networks,
not bridges: which bridge a physnet maps to is the host's business.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from nslb.model.bundle import NetworkPort


@dataclass(frozen=True)
class NatRule:
    """One floating IP: traffic to `floating` is sent to `fixed`, and `fixed` talks to
    the outside as `floating`."""

    floating_ip_id: str
    floating: str
    fixed: str


@dataclass(frozen=True)
class RouterSpec:
    """A router namespace: `external` carries the floating addresses (answered on the
    external network's segment), `internal` the internal subnet's gateway address."""

    router_id: str
    external: NetworkPort
    internal: NetworkPort
    rules: tuple[NatRule, ...]

    @property
    def hash(self) -> str:
        """sha256 of the whole spec: an applied router with this hash needs nothing."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
