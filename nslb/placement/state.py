"""What the scheduler reads: hosts as the caller saw them, and what one amphora asks for.

Plain frozen data, built by the caller from the database (hosts, aggregates, amphorae), so
the scheduler is a pure function that unit tests drive with tables of hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resources:
    """An amount of what a host offers and an amphora takes."""

    amphorae: int = 0
    memory_mb: int = 0
    connections: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.amphorae + other.amphorae, self.memory_mb + other.memory_mb,
                         self.connections + other.connections)


@dataclass(frozen=True)
class HostState:
    """One host as placement sees it. `metadata`: the metadata of every aggregate the host
    is in, merged key -> values (Nova's aggregate_metadata_get_by_host); `zone`: its
    availability zone (an aggregate's `availability_zone`), None for the default zone."""

    id: str
    name: str
    up: bool  # may take new amphorae: heard from and not being drained
    capacity: Resources
    used: Resources = Resources()
    zone: str | None = None
    metadata: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def free(self) -> Resources:
        return Resources(self.capacity.amphorae - self.used.amphorae,
                         self.capacity.memory_mb - self.used.memory_mb,
                         self.capacity.connections - self.used.connections)


@dataclass(frozen=True)
class ComputeFlavor:
    """The amphora's compute flavor: what one amphora of it takes, and its extra specs."""

    name: str = "default"
    memory_mb: int = 0
    connections: int = 0
    extra_specs: Mapping[str, str] = field(default_factory=dict)

    def takes(self) -> Resources:
        return Resources(1, self.memory_mb, self.connections)


@dataclass(frozen=True)
class Request:
    """One amphora to place. `zones`: the availability zones it may go to (empty: any);
    `peer_hosts` / `peer_zones`: where the other amphorae of its LB are (never share a host
    with them; nor a zone when `zone_anti_affinity`); `ignore_hosts`: hosts it must leave
    (the host of the amphora a failover or drain replaces)."""

    amphora_id: str
    flavor: ComputeFlavor = ComputeFlavor()
    zones: frozenset[str] = frozenset()
    peer_hosts: frozenset[str] = frozenset()
    peer_zones: frozenset[str | None] = frozenset()
    zone_anti_affinity: bool = False
    ignore_hosts: frozenset[str] = frozenset()
