"""The identity building blocks without HTTP: the Fernet key repository and its rotation,
tokens, the failed-login throttle, argon2 passwords, the policy table and the bootstrap
clouds.yaml."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from nslb.api import policy
from nslb.api.context import Context
from nslb.api.faults import Forbidden
from nslb.identity import bootstrap, keys, passwords, tokens
from nslb.identity.gate import Busy, VerifyGate
from nslb.identity.keys import KeyRing
from nslb.identity.throttle import LoginThrottle, source_key

USER, PROJECT = "u" * 32, "p" * 32


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "fernet-keys")


def names(directory: Path) -> list[int]:
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def issue(ring: KeyRing, **kw: object) -> str:
    token, _ = tokens.issue(ring, USER, PROJECT, ("password",), **kw)  # type: ignore[arg-type]
    return token


# --- key repository ------------------------------------------------------------------


def test_new_repository_has_staged_and_primary_keys_private(ring: KeyRing) -> None:
    d = ring.directory
    assert names(d) == [0, 1]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for index in (0, 1):
        path = d / str(index)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        Fernet(path.read_bytes())  # a valid key
    assert not [p for p in d.iterdir() if not p.name.isdigit()], "no temp files left"


def test_ensure_keeps_existing_keys(ring: KeyRing) -> None:
    before = {i: (ring.directory / str(i)).read_bytes() for i in (0, 1)}
    keys.ensure(ring.directory)
    KeyRing(ring.directory)
    assert {i: (ring.directory / str(i)).read_bytes() for i in (0, 1)} == before


def test_primary_encrypts_and_staged_key_decrypts(ring: KeyRing) -> None:
    d = ring.directory
    token = issue(ring)
    Fernet((d / "1").read_bytes()).decrypt(token.encode())  # the primary made it
    staged = Fernet((d / "0").read_bytes()).encrypt(b"x")
    assert ring.fernet().decrypt(staged) == b"x"  # the staged key is already accepted


def test_rotation_promotes_the_staged_key(ring: KeyRing) -> None:
    d = ring.directory
    staged = (d / "0").read_bytes()
    assert keys.rotate(d) == 2
    assert names(d) == [0, 1, 2]
    assert (d / "2").read_bytes() == staged
    assert (d / "0").read_bytes() != staged
    token = issue(ring)  # the running ring notices the rotation
    Fernet(staged).decrypt(token.encode())


def test_rotation_prunes_beyond_max_active(ring: KeyRing) -> None:
    d = ring.directory
    keys.rotate(d, max_active=3)
    assert names(d) == [0, 1, 2]
    keys.rotate(d, max_active=3)
    assert names(d) == [0, 2, 3]
    keys.rotate(d, max_active=3)
    assert names(d) == [0, 3, 4]
    keys.rotate(d, max_active=5)
    assert names(d) == [0, 3, 4, 5]
    keys.rotate(d, max_active=2)
    assert names(d) == [0, 6]


def test_tokens_survive_one_rotation_and_die_with_their_key(ring: KeyRing) -> None:
    old = issue(ring)
    keys.rotate(ring.directory, max_active=3)
    assert tokens.decode(ring, old).user_id == USER  # key 1 is a secondary now
    newer = issue(ring)
    keys.rotate(ring.directory, max_active=3)  # key 1 pruned
    with pytest.raises(tokens.TokenError):
        tokens.decode(ring, old)
    assert tokens.decode(ring, newer).user_id == USER


def test_a_second_ring_on_the_same_directory_sees_rotations(ring: KeyRing) -> None:
    other = KeyRing(ring.directory)
    keys.rotate(ring.directory)
    keys.rotate(ring.directory)
    token = issue(other)
    assert tokens.decode(ring, token).project_id == PROJECT


# --- tokens --------------------------------------------------------------------------


def test_issue_and_decode_round_trip(ring: KeyRing) -> None:
    token, data = tokens.issue(ring, USER, None, ("password", "token"), timedelta(minutes=5))
    back = tokens.decode(ring, token)
    assert (back.user_id, back.project_id, back.methods) == (USER, None, ("password", "token"))
    assert back.audit_id == data.audit_id and len(back.audit_id) == 22
    assert abs(back.issued_at - data.issued_at) < timedelta(milliseconds=1)
    assert abs(back.expires_at - data.expires_at) < timedelta(milliseconds=1)
    assert abs(back.expires_at - back.issued_at - timedelta(minutes=5)) < timedelta(
        milliseconds=1)
    assert abs(back.issued_at - tokens.now()) < timedelta(seconds=5)


@pytest.fixture
def far_timezone() -> Iterator[None]:
    """A local timezone far from UTC: token times must not depend on it."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT+5"  # UTC-5
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("far_timezone")
def test_token_times_do_not_depend_on_the_local_timezone(ring: KeyRing) -> None:
    token, data = tokens.issue(ring, USER, PROJECT, ("password",), timedelta(minutes=10))
    back = tokens.decode(ring, token)
    assert abs(back.issued_at - data.issued_at) < timedelta(milliseconds=1)
    assert abs(back.expires_at - data.expires_at) < timedelta(milliseconds=1)
    short, _ = tokens.issue(ring, USER, PROJECT, ("password",), timedelta(milliseconds=50))
    time.sleep(0.1)
    with pytest.raises(tokens.TokenError):
        tokens.decode(ring, short)


def test_expired_token_is_rejected(ring: KeyRing) -> None:
    token = issue(ring, ttl=timedelta(milliseconds=50))
    tokens.decode(ring, token)
    time.sleep(0.1)
    with pytest.raises(tokens.TokenError, match="^invalid token$"):
        tokens.decode(ring, token)


def test_expires_at_caps_the_lifetime(ring: KeyRing) -> None:
    cap = tokens.now() + timedelta(minutes=1)
    _, data = tokens.issue(ring, USER, None, ("token",), timedelta(hours=1), cap)
    assert data.expires_at == cap


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
    lambda t: t[:40] + ("x" if t[40] != "x" else "y") + t[41:],
    lambda t: t[:-10],
    lambda t: "",
    lambda t: "not-a-token",
])
def test_tampered_tokens_are_rejected(ring: KeyRing, mangle: object) -> None:
    token = issue(ring)
    with pytest.raises(tokens.TokenError, match="^invalid token$"):
        tokens.decode(ring, mangle(token))  # type: ignore[operator]


def _spare_bits(token: str) -> str:
    """The same bytes, another text: flip the unused low bits of the last base64 digit
    before the padding (a Fernet token's length leaves 2 or 4 of them)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    body = token.rstrip("=")
    last = alphabet.index(body[-1])
    flipped = alphabet[last ^ 1]
    return body[:-1] + flipped + token[len(body):]


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda t: t + "AAAA", id="appended-AAAA"),  # the probe's input
    pytest.param(lambda t: t + "==", id="appended-padding"),
    pytest.param(lambda t: t + "=AAAA", id="appended-after-padding"),
    pytest.param(lambda t: t.rstrip("=") if t.endswith("=") else t + "=", id="padding"),
    pytest.param(lambda t: t + " ", id="trailing-space"),
    pytest.param(lambda t: " " + t, id="leading-space"),
    pytest.param(lambda t: t[:20] + "\n" + t[20:], id="newline-inside"),
    pytest.param(lambda t: t[:20] + " " + t[20:], id="space-inside"),
    pytest.param(lambda t: t.replace("-", "+").replace("_", "/"), id="standard-alphabet"),
    pytest.param(_spare_bits, id="spare-bits"),
    pytest.param(lambda t: t + "A" * 5000, id="long"),
    pytest.param(lambda t: t[:30] + "\u00e9" + t[31:], id="non-ascii"),
])
def test_only_the_exact_token_text_is_accepted(ring: KeyRing, mangle: object) -> None:
    """Probe F12: base64 decoding stops at padding and ignores spare bits, so these all
    decrypted to the same token before."""
    token = issue(ring)
    assert token.endswith("=")  # Fernet pads: the appended-text cases are meaningful
    changed = mangle(token)  # type: ignore[operator]
    if changed == token:
        pytest.skip("this token has no such variant")
    with pytest.raises(tokens.TokenError, match="^invalid token$"):
        tokens.decode(ring, changed)
    assert tokens.decode(ring, token).user_id == USER


def test_a_token_made_from_a_token_carries_its_chain(ring: KeyRing) -> None:
    _, root = tokens.issue(ring, USER, None, ("password",))
    child_token, child = tokens.issue(ring, USER, PROJECT, ("password", "token"),
                                      parent=root)
    _, grandchild = tokens.issue(ring, USER, PROJECT, ("password", "token"), parent=child)
    back = tokens.decode(ring, child_token)
    assert back.chain == (root.audit_id,)
    assert back.audit_ids == [child.audit_id, root.audit_id]  # as Keystone shows them
    assert grandchild.lineage == (root.audit_id, child.audit_id, grandchild.audit_id)
    assert grandchild.audit_ids == [grandchild.audit_id, root.audit_id]
    assert root.audit_ids == [root.audit_id]


def test_a_chain_is_bounded(ring: KeyRing) -> None:
    token, data = tokens.issue(ring, USER, None, ("password",))
    for _ in range(tokens.MAX_CHAIN):
        token, data = tokens.issue(ring, USER, None, ("token",), parent=data)
    assert len(token) < tokens.MAX_TOKEN_CHARS
    assert tokens.decode(ring, token).lineage == data.lineage
    with pytest.raises(tokens.TokenError):
        tokens.issue(ring, USER, None, ("token",), parent=data)


def test_the_ring_generation_moves_with_every_rotation(ring: KeyRing) -> None:
    first = ring.current()
    assert ring.current() == first  # nothing changed: same generation
    keys.rotate(ring.directory)
    second = ring.current()
    assert second > first
    keys.rotate(ring.directory)  # within the same filesystem tick as the one before
    assert ring.current() > second


def test_token_from_a_foreign_key_or_with_a_bad_payload_is_rejected(ring: KeyRing) -> None:
    foreign = Fernet(Fernet.generate_key())
    payload = json.dumps({"u": USER, "p": None, "m": ["password"], "a": "x", "i": 0,
                          "e": time.time() + 3600}).encode()
    with pytest.raises(tokens.TokenError):
        tokens.decode(ring, foreign.encrypt(payload).decode())
    ours = ring.fernet()
    for bad in (b"[]", b"{}", b"not json", json.dumps({"u": USER}).encode()):
        with pytest.raises(tokens.TokenError):
            tokens.decode(ring, ours.encrypt(bad).decode())


def test_token_payload_is_encrypted(ring: KeyRing) -> None:
    token = issue(ring)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert USER.encode() not in raw and PROJECT.encode() not in raw


def test_iso_has_microseconds_and_z() -> None:
    value = tokens.now().replace(microsecond=1234)
    assert tokens.iso(value).endswith(".001234Z")


# --- throttle ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_free_attempts_then_doubling_closed_periods() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=3, window=300, base=0.25, cap=2.0, clock=clock)
    waits = []
    for _ in range(8):  # sequential failures, each retried as soon as it may be
        wait = throttle.admit("10.0.0.1", "name:alice")
        while wait:
            waits.append(round(wait, 3))
            clock.now += wait
            wait = throttle.admit("10.0.0.1", "name:alice")
    assert waits == [0.25, 0.5, 1.0, 2.0, 2.0]  # three free, then doubling, capped
    assert throttle.admit("10.0.0.1", "name:bob") == 0  # per user
    assert throttle.admit("10.0.0.2", "name:alice") == 0  # per source
    throttle.succeeded("10.0.0.1", "name:alice")
    assert throttle.admit("10.0.0.1", "name:alice") == 0


def test_throttle_refuses_a_parallel_burst_without_counting_it() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, window=300, base=1.0, clock=clock)
    waits = [throttle.admit("a", "name:alice") for _ in range(6)]  # all arrive at once
    assert waits == [0, 0, 1.0, 1.0, 1.0, 1.0]
    clock.now += 1.0
    # the refused four were not counted: the next closed period is 2 s, not 32 s
    assert throttle.admit("a", "name:alice") == 0
    assert throttle.admit("a", "name:alice") == 2.0


def test_throttle_refunds_an_attempt_that_was_never_checked() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, base=1.0, clock=clock)
    for _ in range(5):  # refused by a busy server five times: none of them counts
        assert throttle.admit("a", "name:alice") == 0
        throttle.refund("a", "name:alice")
    assert throttle.admit("a", "name:alice") == 0
    assert throttle.admit("a", "name:alice") == 0  # the 2nd counted attempt closes it
    assert throttle.admit("a", "name:alice") == 1.0


def test_throttle_window_expires() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, window=60, base=0.25, clock=clock)
    for _ in range(2):
        throttle.admit("a", "name:alice")
    assert throttle.admit("a", "name:alice") > 0
    clock.now += 65  # quiet for longer than the window: a fresh start
    assert [throttle.admit("a", "name:alice") for _ in range(2)] == [0, 0]
    assert throttle.admit("a", "name:alice") == 0.25


def test_throttle_counts_a_spray_of_names_per_source() -> None:
    """Guessing many users from one address closes that address, for every name."""
    clock = Clock()
    throttle = LoginThrottle(free=3, source_free=10, base=1.0, clock=clock)
    assert all(throttle.admit("a", f"name:u{i}") == 0 for i in range(10))
    assert throttle.admit("a", "name:someone-else") == 1.0
    assert throttle.admit("b", "name:someone-else") == 0
    # successes are taken back from the source's tally: after 8 failures and any
    # number of successes, two more attempts are admitted (the 10th closes the door)
    for i in range(8):
        throttle.admit("c", f"name:u{i}")
    for _ in range(5):
        assert throttle.admit("c", "name:ok") == 0
        throttle.succeeded("c", "name:ok")
    assert throttle.admit("c", "name:ninth") == 0
    assert throttle.admit("c", "name:tenth") == 0
    assert throttle.admit("c", "name:eleventh") == 1.0


def test_throttle_long_sequences_do_not_overflow() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=1, window=1e9, base=1.0, cap=5.0, clock=clock)
    for _ in range(3000):
        clock.now += throttle.admit("a", "name:alice") or 0.001
    assert throttle.admit("a", "name:alice") <= 5.0


def test_throttle_stays_bounded_and_keeps_no_names() -> None:
    """Probe F7: the table is bounded and holds digests, never the submitted names."""
    throttle = LoginThrottle(max_entries=1000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(20000):
        host = f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"
        throttle.admit(host, f"name:{i}" + "x" * 10000)
        throttle.admit("192.0.2.1", f"name:{i}" + "y" * 10000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert throttle.size <= 1000
    assert grown < 2_000_000, grown  # 40,000 names of 10 KB are 400 MB


@pytest.mark.parametrize(("host", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("testclient", "testclient"),
    ("h" * 500, "h" * 64),
    (None, ""),
])
def test_throttle_source_is_the_address_or_the_ipv6_64(host: str | None, key: str) -> None:
    assert source_key(host) == key


# --- gate ----------------------------------------------------------------------------


def test_gate_bounds_concurrent_checks_and_refuses_beyond_the_queue() -> None:
    gate = VerifyGate(slots=2, queue=1, wait=0.2)
    running, peak, lock = 0, 0, threading.Lock()
    outcomes: list[str] = []

    def check(_: int) -> None:
        nonlocal running, peak
        try:
            with gate.slot():
                with lock:
                    running += 1
                    peak = max(peak, running)
                time.sleep(0.1)
                with lock:
                    running -= 1
            outcomes.append("checked")
        except Busy:
            outcomes.append("busy")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(check, range(8)))
    assert peak == 2
    # callers that found both slots taken for longer than the gate's wait gave up (Busy)
    assert outcomes.count("checked") >= 2 and "busy" in outcomes


# --- passwords -----------------------------------------------------------------------


def test_argon2_hash_and_verify() -> None:
    hashed = passwords.hash_password("s3cret pass")
    assert hashed.startswith("$argon2id$")
    assert "s3cret" not in hashed
    assert passwords.hash_password("s3cret pass") != hashed  # salted
    assert passwords.verify(hashed, "s3cret pass")
    assert not passwords.verify(hashed, "s3cret pasS")
    assert not passwords.verify(hashed, "")
    assert not passwords.verify(None, "s3cret pass")
    assert not passwords.verify("not a hash", "s3cret pass")


@pytest.mark.parametrize("stored", [None, ""])
def test_no_password_never_verifies(stored: str | None) -> None:
    """A user created without a password cannot log in, whatever is tried."""
    for attempt in ("", "nslb-no-such-user", "x"):
        assert not passwords.verify(stored, attempt)


# --- policy --------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "rule"), [
    ("GET", "/v2/lbaas/loadbalancers", "read"),
    ("HEAD", "/v2/lbaas/loadbalancers", "read"),
    ("GET", "/v2.0/lbaas/quotas/{project_id}", "read"),
    ("GET", "/v2/lbaas/quotas/defaults", "read"),
    ("POST", "/v2/lbaas/loadbalancers", "write"),
    ("PUT", "/v2/lbaas/loadbalancers/{id}", "write"),
    ("DELETE", "/v2/lbaas/pools/{pool_id}/members/{member_id}", "write"),
    ("PUT", "/v2/lbaas/quotas/{project_id}", "quota_write"),
    ("DELETE", "/v2.0/lbaas/quotas/{project_id}", "quota_write"),
    ("PUT", "/v2/lbaas/loadbalancers/{id}/failover", "admin"),
    ("PUT", "/v2/octavia/amphorae/{id}/failover", "admin"),
    ("GET", "/v2/octavia/amphorae", "admin"),
    ("POST", "/v2/lbaas/flavors", "admin"),
    ("DELETE", "/v2/lbaas/flavorprofiles/{id}", "admin"),
    ("PUT", "/v2/lbaas/availabilityzones/{id}", "admin"),
    ("GET", "/v2/lbaas/flavors", "read"),
    ("GET", "/v2.0/networks", "read"),
    ("POST", "/v2.0/networks", "write"),
    ("PUT", "/v2.0/subnets/{subnet_id}", "write"),
    ("DELETE", "/v2.0/ports/{port_id}", "write"),
    ("OPTIONS", "/v2/lbaas/loadbalancers", "admin"),
])
def test_rule_for(method: str, path: str, rule: str) -> None:
    assert policy.rule_for(method, path) == rule


PERSONAS: dict[str, set[str]] = {
    # persona: the rules it passes
    "admin": {"read", "write", "quota_write", "admin"},
    "load-balancer_admin": {"read", "write", "quota_write", "admin"},
    "member": {"read", "write"},
    "load-balancer_member": {"read", "write"},
    "reader": {"read"},
    "load-balancer_observer": {"read"},
    "load-balancer_global_observer": {"read"},
    "load-balancer_quota_admin": {"read", "quota_write"},
    "some-other-role": set(),
}


@pytest.mark.parametrize("role", sorted(PERSONAS))
def test_allowed_by_role(role: str) -> None:
    ctx = Context(project_id=PROJECT, roles=frozenset({role}))
    for rule in ("read", "write", "quota_write", "admin"):
        assert policy.allowed(ctx, rule) == (rule in PERSONAS[role]), (role, rule)


def test_no_roles_pass_nothing_and_enforce_raises_403() -> None:
    ctx = Context(project_id=None, roles=frozenset())
    assert not any(policy.allowed(ctx, r) for r in policy.ROLES)
    with pytest.raises(Forbidden) as err:
        policy.enforce(ctx, "read")
    assert err.value.status == 403
    policy.enforce(Context(project_id=PROJECT, roles=frozenset({"reader"})), "read")


def test_project_scope_by_persona() -> None:
    def scope(*roles: str) -> str | None:
        return Context(project_id=PROJECT, roles=frozenset(roles)).scope()

    assert scope("member") == PROJECT
    assert scope("reader", "load-balancer_quota_admin") == PROJECT
    assert scope("admin") is None
    assert scope("load-balancer_admin") is None
    assert scope("load-balancer_global_observer") is None


# --- bootstrap clouds.yaml -----------------------------------------------------------


def test_clouds_yaml_content_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    password = "Ab-_0'x\"y: #z"
    bootstrap.write_clouds_yaml(path, "http://127.0.0.1:9876/identity/v3", password)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["clouds.yaml"]
    cloud = yaml.safe_load(path.read_text())["clouds"]["nslb"]
    assert cloud["auth"] == {
        "auth_url": "http://127.0.0.1:9876/identity/v3", "username": "admin",
        "password": password, "project_name": "admin", "user_domain_name": "Default",
        "project_domain_name": "Default"}
    assert cloud["region_name"] == "RegionOne"
    assert str(cloud["identity_api_version"]) == "3"


def test_clouds_yaml_rewrite_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text("old")
    path.chmod(0o644)
    bootstrap.write_clouds_yaml(path, "http://h/identity/v3", "pw")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["clouds"]["nslb"]["auth"]["password"] == "pw"
