"""Which authentic heartbeats are new (freshness.py), and how the receiver batches them
(receiver.py without its socket: datagrams handed to `handle`, a recording sink)."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import CollectorRegistry

from nslb.heartbeat.envelope import Heartbeat, Rejected, encode
from nslb.heartbeat.freshness import Freshness
from nslb.heartbeat.receiver import HeartbeatMetrics, Receiver, parse_listen
from nslb.heartbeat.store import Received

KEY = b"k" * 32
A, B = str(uuid.uuid4()), str(uuid.uuid4())
NOW = 1_800_000_000.0


def hb(amphora_id: str = A, seq: int = 1, t: float = NOW) -> Heartbeat:
    return Heartbeat(amphora_id=amphora_id, seq=seq, t=t, running=True)


def refused(fresh: Freshness, heartbeat: Heartbeat, now: float = NOW) -> str:
    with pytest.raises(Rejected) as info:
        fresh.admit(heartbeat, now)
    return info.value.reason


def test_seq_must_grow_per_amphora() -> None:
    fresh = Freshness(window=10)
    fresh.watch(A, 0)
    fresh.watch(B, 0)
    fresh.admit(hb(seq=5), NOW)
    assert refused(fresh, hb(seq=5)) == "replayed"      # the same datagram again
    assert refused(fresh, hb(seq=4)) == "replayed"      # overtaken: reordered
    fresh.admit(hb(B, seq=1), NOW)                      # another amphora has its own
    fresh.admit(hb(seq=6), NOW)
    assert fresh.last == {A: 6, B: 1}


def test_the_time_window_bounds_old_and_future_heartbeats() -> None:
    fresh = Freshness(window=10)
    fresh.watch(A, 0)
    assert refused(fresh, hb(seq=1, t=NOW - 10.5)) == "stale"
    assert refused(fresh, hb(seq=1, t=NOW + 10.5)) == "stale"
    assert fresh.last[A] == 0  # a refused heartbeat moves nothing
    fresh.admit(hb(seq=1, t=NOW - 9.5), NOW)


def test_unknown_amphorae_are_refused_and_stored_seqs_are_kept() -> None:
    fresh = Freshness()
    assert refused(fresh, hb()) == "unknown"
    fresh.watch(A, 100)          # the seq stored by an earlier run (or another controller)
    assert refused(fresh, hb(seq=100)) == "replayed"
    fresh.admit(hb(seq=101), NOW)
    fresh.watch(A, 50)           # an older stored value never moves it back
    assert refused(fresh, hb(seq=101)) == "replayed"
    fresh.forget(A)
    assert refused(fresh, hb(seq=200)) == "unknown"


class Recording:
    """A sink that records what the receiver hands it."""

    def __init__(self, watched: dict[str, int]) -> None:
        self.rows = dict(watched)
        self.batches: list[dict[str, Received]] = []
        self.retained: set[str] = set()

    def store(self, batch: dict[str, Received]) -> None:
        self.batches.append(batch)

    def watched(self) -> dict[str, int]:
        return dict(self.rows)

    def retain(self, amphora_ids: set[str]) -> None:
        self.retained = amphora_ids


def receiver(sink: Recording) -> Receiver:
    r = Receiver("127.0.0.1:0", KEY, sink, window=10,
                 metrics=HeartbeatMetrics(CollectorRegistry()))
    r.refresh()
    return r


def count(r: Receiver, result: str) -> float:
    value = r.metrics.registry.get_sample_value("nslb_heartbeats_total", {"result": result})
    assert value is not None
    return value


def test_a_round_is_one_batch_with_the_newest_heartbeat_per_amphora() -> None:
    sink = Recording({A: 0, B: 0})
    r = receiver(sink)
    for seq in range(1, 6):
        assert r.handle(encode(hb(A, seq), KEY), NOW + seq / 10) is not None
    r.handle(encode(hb(B, 1), KEY), NOW)
    assert sink.batches == []                      # nothing written per datagram
    assert r.flush() == 2
    (batch,) = sink.batches
    assert {a: rec.heartbeat.seq for a, rec in batch.items()} == {A: 5, B: 1}
    assert batch[A].at == NOW + 0.5
    assert r.flush() == 0 and len(sink.batches) == 1  # an empty round writes nothing
    assert count(r, "accepted") == 6


def test_refusals_are_counted_by_reason() -> None:
    sink = Recording({A: 10})
    r = receiver(sink)
    r.handle(encode(hb(A, 11), KEY), NOW)
    r.handle(encode(hb(A, 11), KEY), NOW)                    # replayed
    r.handle(encode(hb(A, 12), b"wrong" * 8), NOW)           # forged
    r.handle(encode(hb(A, 13, t=NOW - 60), KEY), NOW)        # stale
    r.handle(encode(hb(B, 1), KEY), NOW)                     # unknown
    r.handle(b"\x00" * 100, NOW)                             # forged (no valid HMAC)
    r.handle(b"short", NOW)                                  # malformed
    assert {k: count(r, k) for k in ("accepted", "replayed", "forged", "stale", "unknown",
                                     "malformed")} == \
        {"accepted": 1, "replayed": 1, "forged": 2, "stale": 1, "unknown": 1, "malformed": 1}
    r.flush()
    assert [rec.heartbeat.seq for b in sink.batches for rec in b.values()] == [11]


def test_a_refresh_follows_the_watched_rows() -> None:
    sink = Recording({A: 0})
    r = receiver(sink)
    sink.rows = {B: 7}           # A deleted, B created meanwhile
    r.refresh()
    assert r.handle(encode(hb(A, 1), KEY), NOW) is None
    assert r.handle(encode(hb(B, 7), KEY), NOW) is None      # its stored seq holds
    assert r.handle(encode(hb(B, 8), KEY), NOW) is not None
    assert sink.retained == {B}


@pytest.mark.parametrize("value", ["", "5555", "host:", "host:99999", ":80"])
def test_listen_addresses_are_checked(value: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(value)
    assert parse_listen("[::1]:5555") == ("::1", 5555)
