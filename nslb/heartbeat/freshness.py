"""Which authentic heartbeats are new. Pure; the clock is passed in.

An HMAC proves who made a heartbeat, not when: anyone on the path can send it again. Two
checks make an old one useless:
- `seq` must be greater than the last one accepted from that amphora, so a replay (same
  seq) or a heartbeat overtaken by a newer one (reordering) is refused. The last seq of
  every amphora is stored (amphora_health.last_seq) and loaded when the receiver starts,
  so a restart of the controller does not reopen the door;
- `t`, the sender's clock, must be within `window` seconds of the receiver's, so a
  heartbeat captured before the receiver knew the amphora's seq (its first ones) expires.
Senders start their seq at their wall clock in microseconds (sender.py), so a restarted
sender continues above its last seq without storing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nslb.heartbeat.envelope import Heartbeat, Rejected

DEFAULT_WINDOW = 10.0


@dataclass
class Freshness:
    """The last accepted seq per watched amphora. Heartbeats of amphorae not in `last`
    are refused as unknown: the set is what the database watches (`watch`/`forget`)."""

    window: float = DEFAULT_WINDOW
    last: dict[str, int] = field(default_factory=dict)

    def watch(self, amphora_id: str, last_seq: int) -> None:
        """Know the amphora; keep the larger of what is known and what was stored (another
        controller may have accepted newer heartbeats)."""
        self.last[amphora_id] = max(self.last.get(amphora_id, -1), last_seq)

    def forget(self, amphora_id: str) -> None:
        self.last.pop(amphora_id, None)

    def admit(self, heartbeat: Heartbeat, now: float) -> None:
        """Accept the heartbeat (and remember its seq) or raise Rejected."""
        last = self.last.get(heartbeat.amphora_id)
        if last is None:
            raise Rejected("unknown", heartbeat.amphora_id)
        if abs(now - heartbeat.t) > self.window:
            raise Rejected("stale", f"{heartbeat.amphora_id}: made {now - heartbeat.t:.1f} s "
                           "from now")
        if heartbeat.seq <= last:
            raise Rejected("replayed", f"{heartbeat.amphora_id}: seq {heartbeat.seq} <= {last}")
        self.last[heartbeat.amphora_id] = heartbeat.seq
