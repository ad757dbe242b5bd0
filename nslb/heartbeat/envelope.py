"""The heartbeat on the wire: Octavia's envelope, made strict. Pure.

Octavia's amphora agent sends `zlib(json) + hex(HMAC-SHA256(key, zlib(json)))` over UDP,
the JSON holding `id`, `seq`, `ver`, per-listener status and stats and per-pool status
with its members' statuses. The health manager checks the HMAC (constant time) and
decompresses, and that is all: it decompresses whatever an authenticated sender sent
(a few KiB that inflate to GiB), accepts any JSON shape, and never looks at `seq`, so a
captured heartbeat can be replayed for ever and keeps a dead amphora "alive".

Here, in this order, each step only on what passed the one before:
1. the datagram's size is bounded (MAX_DATAGRAM) before anything is computed;
2. the HMAC is checked (hmac.compare_digest) before the payload is even decompressed;
3. decompression stops at MAX_JSON bytes, and a payload with more is refused (a zlib
   bomb costs at most MAX_JSON bytes of memory, even from a holder of the key);
4. the JSON is parsed with duplicate keys, NaN and Infinity refused, and checked against
   a closed schema: every key known, every id a canonical UUID, every status a short
   word, every counter an integer in [0, 2**63), at most MAX_OBJECTS entries in all.
Freshness (`seq` per amphora, the `t` window) is the caller's (nslb/heartbeat/freshness.py),
since it needs state.

The layout follows Octavia's version 2 message, with keys an nslb Observation needs and
Octavia lacks: `t` (the sender's wall clock, seconds), `running` (haproxy answers),
`vrrp` (the amphora's VRRP state) and `start` (when haproxy started, so folded counters
survive its restarts). Pools are keyed by pool id (Octavia: "pool_id:listener_id") and
members are one flat map beside them (Octavia files them under their pool): a bundle's
manifest, which is what a sender knows, lists members without their pool, and the
operating statuses derived from a heartbeat need only the member.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
MAX_DATAGRAM = 65507           # the largest UDP payload over IPv4
DIGEST_LEN = 64                # hex SHA-256
MAX_JSON = 1024 * 1024         # decompressed bytes
MAX_OBJECTS = 20_000           # listeners + pools + members in one heartbeat
MAX_COUNTER = 2 ** 63
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# HAProxy's status words as `show stat` writes them ("UP", "DOWN 1/2", "no check", ...).
STATUS = re.compile(r"[A-Za-z][A-Za-z0-9 /]{0,23}")
VRRP = frozenset({"", "MASTER", "BACKUP", "FAULT", "STOPPED"})
STATS = ("tx", "rx", "conns", "totconns", "ereq", "req", "hrsp5xx")
TOP = frozenset({"id", "seq", "ver", "t", "running", "vrrp", "start", "listeners", "pools",
                 "members"})


class Rejected(ValueError):
    """A datagram that is not a heartbeat to act on. `reason` is one of a fixed set (a
    metric label): forged (HMAC), malformed (size, zlib, JSON, schema), replayed, stale,
    unknown (no amphora watched by that id)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class ListenerBeat:
    status: str
    stats: dict[str, int]  # the STATS keys, cumulative since haproxy started


@dataclass(frozen=True)
class Heartbeat:
    """One amphora's report. `seq` grows with every heartbeat the amphora's sender makes
    (across its restarts, see sender.py); `t` is when it was made."""

    amphora_id: str
    seq: int
    t: float
    running: bool
    vrrp: str = ""
    start: float = 0.0
    listeners: dict[str, ListenerBeat] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)    # pool id -> status word
    members: dict[str, str] = field(default_factory=dict)  # member id -> status word

    def to_json(self) -> dict[str, Any]:
        return {"id": self.amphora_id, "seq": self.seq, "ver": VERSION, "t": self.t,
                "running": self.running, "vrrp": self.vrrp, "start": self.start,
                "listeners": {k: {"status": v.status, "stats": dict(v.stats)}
                              for k, v in self.listeners.items()},
                "pools": {k: {"status": v} for k, v in self.pools.items()},
                "members": dict(self.members)}


def digest(payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode("ascii")


def encode(heartbeat: Heartbeat, key: bytes) -> bytes:
    """The datagram: zlib(JSON) followed by its hex HMAC-SHA256. Raises ValueError when
    it would not fit one UDP datagram (or the receiver's limits)."""
    raw = json.dumps(heartbeat.to_json(), separators=(",", ":"),
                     allow_nan=False).encode("utf-8")
    if len(raw) > MAX_JSON:
        raise ValueError(f"heartbeat of {len(raw)} bytes exceeds {MAX_JSON}")
    payload = zlib.compress(raw, 6)
    if len(payload) + DIGEST_LEN > MAX_DATAGRAM:
        raise ValueError(f"compressed heartbeat of {len(payload)} bytes exceeds a datagram")
    return payload + digest(payload, key)


def decode(datagram: bytes, key: bytes) -> Heartbeat:
    """The heartbeat a datagram holds, or Rejected (see the module docstring)."""
    if not DIGEST_LEN < len(datagram) <= MAX_DATAGRAM:
        raise Rejected("malformed", f"datagram of {len(datagram)} bytes")
    payload, mac = datagram[:-DIGEST_LEN], datagram[-DIGEST_LEN:]
    if not hmac.compare_digest(mac, digest(payload, key)):
        raise Rejected("forged")
    return parse(inflate(payload))


def inflate(payload: bytes) -> bytes:
    """Decompress at most MAX_JSON bytes; a stream that is longer, truncated or followed
    by trailing bytes is refused."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, MAX_JSON)
    except zlib.error as exc:
        raise Rejected("malformed", f"zlib: {exc}") from None
    if inflater.unconsumed_tail:
        raise Rejected("malformed", f"inflates beyond {MAX_JSON} bytes")
    if not inflater.eof or inflater.unused_data:
        raise Rejected("malformed", "truncated or trailing zlib data")
    return raw


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise Rejected("malformed", "duplicate key")
    return out


def _no_constant(name: str) -> Any:
    raise Rejected("malformed", f"non-finite number {name}")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant)
STAT_KEYS = frozenset(STATS)
LISTENER_KEYS = frozenset({"status", "stats"})


def parse(raw: bytes) -> Heartbeat:
    try:
        obj = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Rejected("malformed", f"JSON: {exc}") from None
    return _checked(obj)


# The checks below run for every datagram (10,000 a second on a big installation): their
# messages are constants, never formatted unless they fail.

def _require(ok: bool, what: str) -> None:
    if not ok:
        raise Rejected("malformed", what)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise Rejected("malformed", f"{what} is not an object")
    return value


def _uuid(value: Any, what: str) -> str:
    if type(value) is not str or UUID.fullmatch(value) is None:
        raise Rejected("malformed", f"{what} is not a canonical UUID")
    return value


def _status(value: Any, what: str) -> str:
    if type(value) is not str or STATUS.fullmatch(value) is None:
        raise Rejected("malformed", f"{what} is not a status word")
    return value


def _counter(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value < MAX_COUNTER:
        raise Rejected("malformed", f"{what} is not a counter")
    return value


def _time(value: Any, what: str) -> float:
    _require(type(value) in (int, float) and math.isfinite(value) and 0 <= value < 2 ** 40,
             what)
    return float(value)


def _stats(value: Any) -> dict[str, int]:
    stats = _dict(value, "listener stats")
    _require(stats.keys() == STAT_KEYS, "listener stats keys")
    for v in stats.values():
        _counter(v, "listener stat")
    return stats


def _checked(obj: Any) -> Heartbeat:
    top = _dict(obj, "heartbeat")
    _require(top.keys() == TOP, "keys missing or unknown")
    _require(type(top["ver"]) is int and top["ver"] == VERSION, "unknown version")
    _require(type(top["running"]) is bool, "running is not a boolean")
    _require(type(top["vrrp"]) is str and top["vrrp"] in VRRP, "vrrp is not a VRRP state")
    listeners_in = _dict(top["listeners"], "listeners")
    pools_in = _dict(top["pools"], "pools")
    members_in = _dict(top["members"], "members")
    _require(len(listeners_in) + len(pools_in) + len(members_in) <= MAX_OBJECTS,
             "too many objects")
    listeners = {}
    for lid, body in listeners_in.items():
        _require(_dict(body, "listener").keys() == LISTENER_KEYS, "listener keys")
        listeners[_uuid(lid, "listener id")] = ListenerBeat(
            _status(body["status"], "listener status"), _stats(body["stats"]))
    pools = {}
    for pid, body in pools_in.items():
        _require(_dict(body, "pool").keys() == {"status"}, "pool keys")
        pools[_uuid(pid, "pool id")] = _status(body["status"], "pool status")
    members = {_uuid(m, "member id"): _status(v, "member status")
               for m, v in members_in.items()}
    return Heartbeat(amphora_id=_uuid(top["id"], "id"), seq=_counter(top["seq"], "seq"),
                     t=_time(top["t"], "t is not a time"), running=top["running"],
                     vrrp=top["vrrp"], start=_time(top["start"], "start is not a time"),
                     listeners=listeners, pools=pools, members=members)
