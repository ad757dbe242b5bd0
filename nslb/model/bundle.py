"""The bundle: everything one amphora needs, as plain data. It is the contract between the
control plane and a data plane, local or (later) remote: the worker renders a bundle per
amphora, the driver makes the amphora serve it and reports the bundle hash it confirmed.

A bundle holds the files the amphora's engines read (haproxy.cfg now; keepalived.conf,
certificates and nftables rules later), the network ports to plug (by physical network,
since which bridge a physnet maps to is the host's business), and a manifest of the
objects it serves (what a health report is checked against). Its hash covers all of that
but not the generation, so a change that renders identically costs the data plane nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from nslb.model.addresses import AddressError, canonical_ip
from nslb.model.vxlan import BadSegment, check_address, check_mac, check_vni


@dataclass(frozen=True)
class HostFacts:
    """What rendering needs to know about the host an amphora runs on."""

    host: str
    state_dir: str
    fd_limit: int
    haproxy_user: str = "haproxy"
    # Whether the host collects access logs from the amphorae' log sockets (nslb.accesslog).
    access_logs: bool = False
    # Where this host's VXLAN tunnels end ("" when it has none): the controller records
    # an agent's on its host row, and other hosts flood VXLAN networks to it.
    underlay_address: str = ""


@dataclass(frozen=True)
class Peer:
    """Another amphora of the pair on a VXLAN port's network: its address there, its MAC
    and the underlay address of its host ("" when it is on this host). The amphora gets a
    PERMANENT neighbour entry for it and the host a static fdb entry for the MAC towards
    that host, so VRRP adverts and the first packets between the pair depend neither on
    ARP nor on flooding and learning across the overlay."""

    address: str
    mac: str
    underlay: str = ""

    def __post_init__(self) -> None:
        """Read back from the wire: canonical spellings only (they are compared with
        what netlink reports, and reach netlink as root)."""
        try:
            if canonical_ip(self.address) != self.address:
                raise BadSegment(f"peer address not canonical: {self.address!r}")
        except AddressError:
            raise BadSegment(f"not a peer IP address: {self.address!r}") from None
        if check_mac(self.mac) != self.mac:
            raise BadSegment(f"peer MAC not in lower case: {self.mac!r}")
        if self.underlay and check_address(self.underlay) != self.underlay:
            raise BadSegment(f"peer underlay address not canonical: {self.underlay!r}")


@dataclass(frozen=True)
class NetworkPort:
    """One port of the amphora's namespace: its MAC and addresses on one subnet."""

    port_id: str
    physical_network: str
    network_type: str
    segmentation_id: int | None
    mtu: int
    mac: str
    addresses: tuple[str, ...]  # "address/prefixlen"
    gateway: str | None = None
    host_routes: tuple[tuple[str, str], ...] = ()
    # Addresses keepalived moves onto this port and off it (an ACTIVE_STANDBY VIP).
    floating: tuple[str, ...] = ()
    # A VXLAN port (network_type "vxlan", segmentation_id = the VNI): the underlay
    # addresses of the other hosts with a port on the network, to flood to (head-end
    # replication). Empty for flat and VLAN ports.
    flood: tuple[str, ...] = ()
    # A VXLAN port of a pair member: the other amphorae of the pair on the network
    # (static neighbour and fdb entries). Empty for flat and VLAN ports.
    peers: tuple[Peer, ...] = ()

    def __post_init__(self) -> None:
        """A port read back from the wire is checked before it reaches netlink."""
        if self.mac:
            check_mac(self.mac)
        if self.network_type == "vxlan":
            check_vni(self.segmentation_id)
            for address in self.flood:
                check_address(address)
            if not all(isinstance(peer, Peer) for peer in self.peers):
                raise ValueError(f"port {self.port_id}: peers must be Peer entries")
        elif self.flood or self.peers:
            raise ValueError(f"port {self.port_id}: a flood list or peers on a "
                             f"{self.network_type} port")
        if isinstance(self.mtu, bool) or not isinstance(self.mtu, int) or \
                not 68 <= self.mtu <= 65535:
            raise ValueError(f"port {self.port_id}: MTU {self.mtu!r} out of range")


def _port_content(port: NetworkPort) -> dict[str, Any]:
    """A port as hashed: without an empty flood list or peer list, so bundles of flat and
    VLAN ports hash as they did before VXLAN existed (no amphora re-applied on upgrade)."""
    content = asdict(port)
    for optional in ("flood", "peers"):
        if not content[optional]:
            del content[optional]
    return content


@dataclass(frozen=True)
class Manifest:
    """The objects the bundle makes the amphora serve (ids only)."""

    listeners: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    monitored_members: tuple[str, ...] = ()
    disabled_members: tuple[str, ...] = ()
    disabled_listeners: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bundle:
    amphora_id: str
    loadbalancer_id: str
    generation: int
    files: dict[str, str] = field(default_factory=dict)
    ports: tuple[NetworkPort, ...] = ()
    manifest: Manifest = field(default_factory=Manifest)

    @property
    def hash(self) -> str:
        """sha256 of the content (files, ports, manifest), not of the generation."""
        content = {"files": self.files, "ports": [_port_content(p) for p in self.ports],
                   "manifest": asdict(self.manifest)}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Bundle:
        data: dict[str, Any] = json.loads(text)
        ports = tuple(NetworkPort(**{**p, "addresses": tuple(p["addresses"]),
                                     "host_routes": tuple(tuple(r) for r in p["host_routes"]),
                                     "floating": tuple(p.get("floating", ())),
                                     "flood": tuple(p.get("flood", ())),
                                     "peers": tuple(_peer(x) for x in p.get("peers", ()))})
                      for p in data["ports"])
        manifest = Manifest(**{k: tuple(v) for k, v in data["manifest"].items()})
        return cls(amphora_id=data["amphora_id"], loadbalancer_id=data["loadbalancer_id"],
                   generation=data["generation"], files=dict(data["files"]), ports=ports,
                   manifest=manifest)


def _peer(data: object) -> Peer:
    if not isinstance(data, dict):
        raise ValueError(f"a peer must be an object, got {data!r}")
    return Peer(**data)
