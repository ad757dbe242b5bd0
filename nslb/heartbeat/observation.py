"""Heartbeat <-> Observation (nslb/amphora/base.py). Pure.

The sender turns what a driver observed into a heartbeat; the health loop turns the
heartbeat back into the Observation it would have got from observe(), so everything after
(deriving statuses, folding counters, metrics, failover) is the same code for amphorae on
this host and on others. What the envelope does not carry: per-member counters and
traffic (Octavia's envelope has none either); the dashboard shows listener traffic only
for remote amphorae.
"""

from __future__ import annotations

from nslb.amphora.base import ListenerCounters, Observation, Traffic
from nslb.heartbeat.envelope import STATS, Heartbeat, ListenerBeat


def heartbeat_of(amphora_id: str, seq: int, t: float, obs: Observation) -> Heartbeat:
    listeners = {}
    for lid, status in obs.listeners.items():
        c = obs.counters.get(lid, ListenerCounters())
        stats = {"tx": c.bytes_out, "rx": c.bytes_in, "conns": c.active_connections,
                 "totconns": c.total_connections, "ereq": c.request_errors,
                 "req": c.requests, "hrsp5xx": c.responses_5xx}
        listeners[lid] = ListenerBeat(status, {k: max(0, stats[k]) for k in STATS})
    return Heartbeat(amphora_id=amphora_id, seq=seq, t=t, running=obs.running,
                     vrrp=obs.vrrp, start=obs.process_start, listeners=listeners,
                     pools=dict(obs.pools), members=dict(obs.members))


def observation_of(hb: Heartbeat) -> Observation:
    counters, traffic = {}, {}
    for lid, beat in hb.listeners.items():
        s = beat.stats
        counters[lid] = ListenerCounters(
            bytes_in=s["rx"], bytes_out=s["tx"], active_connections=s["conns"],
            total_connections=s["totconns"], request_errors=s["ereq"], requests=s["req"],
            responses_5xx=s["hrsp5xx"])
        traffic[lid] = Traffic(s["req"] or s["totconns"], s["conns"], s["ereq"] + s["hrsp5xx"])
    return Observation(
        running=hb.running,
        listeners={lid: beat.status for lid, beat in hb.listeners.items()},
        pools=dict(hb.pools), members=dict(hb.members),
        counters=counters, process_start=hb.start, vrrp=hb.vrrp, traffic=traffic)
