"""The heartbeat envelope (nslb/heartbeat/envelope.py): what it accepts is exactly what a
holder of the key sent, and nothing else gets past it, decompressed or not."""

from __future__ import annotations

import json
import uuid
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nslb.amphora.base import ListenerCounters, Observation
from nslb.heartbeat import envelope
from nslb.heartbeat.envelope import (
    MAX_JSON,
    STATS,
    Heartbeat,
    ListenerBeat,
    Rejected,
    decode,
    digest,
    encode,
)
from nslb.heartbeat.observation import heartbeat_of, observation_of

KEY = b"0123456789abcdef0123456789abcdef"
uuids = st.uuids(version=4).map(str)
words = st.sampled_from(["UP", "DOWN", "OPEN", "FULL", "STOP", "no check", "MAINT",
                         "DRAIN", "NOLB", "UP 1/3", "DOWN 2/2"])
counters = st.integers(min_value=0, max_value=2 ** 63 - 1)
listeners = st.builds(ListenerBeat, words,
                      st.fixed_dictionaries({k: counters for k in STATS}))
heartbeats = st.builds(
    Heartbeat, amphora_id=uuids, seq=counters,
    t=st.floats(min_value=0, max_value=2 ** 39, allow_nan=False, allow_infinity=False),
    running=st.booleans(), vrrp=st.sampled_from(sorted(envelope.VRRP)),
    start=st.floats(min_value=0, max_value=2 ** 39, allow_nan=False),
    listeners=st.dictionaries(uuids, listeners, max_size=4),
    pools=st.dictionaries(uuids, words, max_size=4),
    members=st.dictionaries(uuids, words, max_size=8))


def sign(payload: bytes, key: bytes = KEY) -> bytes:
    return payload + digest(payload, key)


def signed_json(obj: object) -> bytes:
    return sign(zlib.compress(json.dumps(obj).encode()))


def beat(**over: object) -> dict[str, object]:
    body: dict[str, object] = {"id": str(uuid.uuid4()), "seq": 1, "ver": 1, "t": 1e9,
                               "running": True, "vrrp": "", "start": 0.0, "listeners": {},
                               "pools": {}, "members": {}}
    body.update(over)
    return body


def reason(datagram: bytes, key: bytes = KEY) -> str:
    with pytest.raises(Rejected) as info:
        decode(datagram, key)
    return info.value.reason


@given(heartbeats)
def test_round_trip(hb: Heartbeat) -> None:
    assert decode(encode(hb, KEY), KEY) == hb


@settings(max_examples=300)
@given(heartbeats, st.data())
def test_any_single_bit_flip_is_refused(hb: Heartbeat, data: st.DataObject) -> None:
    datagram = bytearray(encode(hb, KEY))
    bit = data.draw(st.integers(min_value=0, max_value=len(datagram) * 8 - 1))
    datagram[bit // 8] ^= 1 << (bit % 8)
    assert reason(bytes(datagram)) in ("forged", "malformed")


@given(heartbeats, st.data())
def test_any_truncation_is_refused(hb: Heartbeat, data: st.DataObject) -> None:
    datagram = encode(hb, KEY)
    cut = data.draw(st.integers(min_value=0, max_value=len(datagram) - 1))
    assert reason(datagram[:cut]) in ("forged", "malformed")


@given(heartbeats)
def test_another_key_is_forged(hb: Heartbeat) -> None:
    assert reason(encode(hb, b"another key of 32 bytes........."), KEY) == "forged"


def test_an_unsigned_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = zlib.compress(b"0" * (50 * MAX_JSON), 9)
    assert len(bomb) < 65000
    assert reason(bomb + b"f" * 64) == "forged"


@given(st.integers(min_value=MAX_JSON + 1, max_value=40 * MAX_JSON))
@settings(max_examples=10, deadline=None)
def test_a_signed_bomb_is_refused_after_at_most_max_json_bytes(size: int) -> None:
    """Even the holder of the key cannot make the receiver inflate more than MAX_JSON."""
    assert reason(sign(zlib.compress(b" " * size, 9))) == "malformed"


def test_trailing_bytes_and_truncated_streams_are_refused() -> None:
    good = zlib.compress(json.dumps(beat()).encode())
    assert decode(sign(good), KEY).seq == 1
    assert reason(sign(good + b"x")) == "malformed"
    assert reason(sign(good[:-3])) == "malformed"
    assert reason(b"x" * 64) == "malformed"
    assert reason(b"x" * 65508) == "malformed"


@pytest.mark.parametrize("change", [
    {"extra": 1},                                # unknown key
    {"ver": 2}, {"ver": True},                   # unknown version
    {"seq": -1}, {"seq": 2 ** 63}, {"seq": 1.5}, {"seq": "1"},
    {"id": "not-a-uuid"}, {"id": str(uuid.uuid4()).upper()},
    {"t": "now"}, {"t": -1}, {"t": 1e300},
    {"running": 1}, {"vrrp": "LEADER"},
    {"listeners": []},
    {"listeners": {str(uuid.uuid4()): {"status": "OPEN"}}},  # no stats
    {"listeners": {str(uuid.uuid4()): {"status": "OPEN", "stats": dict.fromkeys(STATS, -1)}}},
    {"listeners": {str(uuid.uuid4()): {"status": "OPEN\nfoo", "stats": dict.fromkeys(STATS, 0)}}},
    {"listeners": {str(uuid.uuid4()): {"status": "x" * 40, "stats": dict.fromkeys(STATS, 0)}}},
    {"pools": {str(uuid.uuid4()): {"status": "UP", "members": {}}}},  # Octavia's nesting
    {"members": {str(uuid.uuid4()): 7}},
    {"members": {"../etc": "UP"}},
    {"members": {str(uuid.uuid4()): "UP" for _ in range(envelope.MAX_OBJECTS + 1)}},
])
def test_the_schema_is_closed(change: dict[str, object]) -> None:
    assert reason(signed_json(beat(**change))) == "malformed"


def test_duplicate_keys_nan_and_non_json_are_refused() -> None:
    body = json.dumps(beat())
    assert reason(sign(zlib.compress(body.replace('"seq": 1', '"seq": 1, "seq": 2')
                                      .encode()))) == "malformed"
    assert reason(sign(zlib.compress(body.replace('"t": 1000000000.0', '"t": NaN')
                                     .encode()))) == "malformed"
    assert reason(sign(zlib.compress(b"\xff\xfe"))) == "malformed"
    assert reason(sign(zlib.compress(b"[" * 100_000))) == "malformed"


def test_an_observation_survives_the_trip() -> None:
    listener, pool, member = (str(uuid.uuid4()) for _ in range(3))
    obs = Observation(running=True, listeners={listener: "OPEN"}, pools={pool: "UP"},
                      members={member: "DOWN"}, vrrp="MASTER", process_start=123.0,
                      counters={listener: ListenerCounters(1, 2, 3, 4, 5, 6, 7)})
    back = observation_of(decode(encode(heartbeat_of("a" * 8 + str(uuid.uuid4())[8:], 9,
                                                     1e9, obs), KEY), KEY))
    assert (back.running, back.listeners, back.pools, back.members, back.vrrp,
            back.process_start, back.counters) == \
        (True, obs.listeners, obs.pools, obs.members, "MASTER", 123.0, obs.counters)
    assert back.traffic[listener].requests == 6 and back.traffic[listener].errors == 5 + 7
