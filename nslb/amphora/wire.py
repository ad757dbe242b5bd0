"""Observations and host facts as JSON, for the agent API (nslb/agent/api.py) and the
remote driver that reads it (nslb/amphora/remote.py). Bundles have their own
(Bundle.to_json / from_json)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from nslb.amphora.base import ListenerCounters, Observation, Traffic
from nslb.model.bundle import HostFacts
from nslb.model.vxlan import check_address


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    return asdict(obs)


def observation_from_dict(data: dict[str, Any]) -> Observation:
    return Observation(
        running=bool(data["running"]), listeners=dict(data.get("listeners", {})),
        pools=dict(data.get("pools", {})), members=dict(data.get("members", {})),
        counters={k: ListenerCounters(**v) for k, v in data.get("counters", {}).items()},
        process_start=float(data.get("process_start", 0.0)),
        member_stats={k: tuple(str(x) for x in v)
                      for k, v in data.get("member_stats", {}).items()},
        vrrp=str(data.get("vrrp", "")),
        traffic={k: Traffic(**v) for k, v in data.get("traffic", {}).items()})


def facts_to_dict(facts: HostFacts) -> dict[str, Any]:
    return asdict(facts)


def facts_from_dict(data: dict[str, Any]) -> HostFacts:
    return HostFacts(host=str(data["host"]), state_dir=str(data["state_dir"]),
                     fd_limit=int(data["fd_limit"]),
                     haproxy_user=str(data.get("haproxy_user", "haproxy")),
                     access_logs=bool(data.get("access_logs", False)),
                     underlay_address=_underlay(data.get("underlay_address") or ""))


def _underlay(value: object) -> str:
    """An agent's underlay address, checked before it reaches the database and bundles."""
    return check_address(value) if value else ""
