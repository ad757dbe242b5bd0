"""The weighers: among the hosts that passed, which is best. As Nova's, each weigher's raw
values are scaled to 0..1 across the candidates and multiplied by its multiplier; the
host with the highest sum wins (ties go to the first host by name, so the choice is
deterministic)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from nslb.placement.state import HostState

Weigher = Callable[[HostState], float]


def least_loaded(host: HostState) -> float:
    """Prefer the host with the smallest share of its amphora slots in use."""
    if host.capacity.amphorae <= 0:
        return -1.0
    return -host.used.amphorae / host.capacity.amphorae


def free_memory(host: HostState) -> float:
    return float(host.free().memory_mb)


def free_connections(host: HostState) -> float:
    return float(host.free().connections)


WEIGHERS: dict[str, Weigher] = {"least_loaded": least_loaded, "free_memory": free_memory,
                                "free_connections": free_connections}
DEFAULT_MULTIPLIERS: Mapping[str, float] = {"least_loaded": 1.0}


def weigh(hosts: list[HostState], multipliers: Mapping[str, float]) -> list[float]:
    """One weight per host, in the order given."""
    totals = [0.0] * len(hosts)
    for name, multiplier in multipliers.items():
        if not multiplier:
            continue
        raw = [WEIGHERS[name](h) for h in hosts]
        low, high = min(raw), max(raw)
        span = high - low
        for i, value in enumerate(raw):
            totals[i] += multiplier * ((value - low) / span if span else 0.0)
    return totals


def parse_multipliers(text: str) -> dict[str, float]:
    """`least_loaded=1,free_memory=0.5` (the `placement_weighers` setting) as multipliers;
    ValueError naming what is wrong."""
    out: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if name.strip() not in WEIGHERS or not sep:
            known = ", ".join(sorted(WEIGHERS))
            raise ValueError(f"placement weigher {item!r}: NAME=MULTIPLIER with NAME one of "
                             f"{known}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"placement weigher {item!r}: the multiplier is not a "
                             "number") from None
    return out
