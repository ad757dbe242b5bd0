"""The identity building blocks without HTTP: the Fernet key repository and its rotation,
tokens, the failed-login throttle, argon2 passwords, the policy table and the bootstrap
clouds.yaml."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from nslb.api import policy
from nslb.api.context import Context
from nslb.api.faults import Forbidden
from nslb.identity import bootstrap, keys, passwords, tokens
from nslb.identity.keys import KeyRing
from nslb.identity.throttle import LoginThrottle

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


def test_throttle_free_attempts_then_growing_delays() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=3, window=300, cap=2.0, clock=clock)
    waits = []
    for _ in range(8):  # sequential failures: each waits its turn
        wait = throttle.reserve("alice")
        waits.append(wait)
        clock.now += wait
    assert waits[:3] == [0, 0, 0]  # three free attempts
    assert waits[3:] == [0.25, 0.5, 1.0, 2.0, 2.0]  # then doubling, capped
    assert throttle.reserve("bob") == 0  # per user
    throttle.succeeded("alice")
    assert throttle.reserve("alice") == 0


def test_throttle_spaces_out_a_parallel_burst() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, window=300, cap=1.0, clock=clock)
    waits = [throttle.reserve("alice") for _ in range(6)]  # all arrive at once
    assert waits == [0, 0, 0.25, 0.75, 1.75, 2.75]


def test_throttle_time_between_attempts_counts() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, window=300, cap=8.0, clock=clock)
    throttle.reserve("alice")
    throttle.reserve("alice")  # next slot 0.25 s later
    clock.now += 10
    assert throttle.reserve("alice") == 0  # the gap has passed already


def test_throttle_window_expires() -> None:
    clock = Clock()
    throttle = LoginThrottle(free=2, window=60, clock=clock)
    for _ in range(4):
        throttle.reserve("alice")
    assert throttle.reserve("alice") > 0
    clock.now += 65  # quiet for longer than the window: a fresh start
    assert [throttle.reserve("alice") for _ in range(2)] == [0, 0]
    assert throttle.reserve("alice") == 0.25


def test_throttle_forgets_old_names_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    from nslb.identity import throttle as module

    monkeypatch.setattr(module, "MAX_NAMES", 10)
    clock = Clock()
    throttle = LoginThrottle(free=1, window=60, clock=clock)
    for i in range(10):
        throttle.reserve(f"guess{i}")
    clock.now += 61
    throttle.reserve("alice")
    assert list(throttle._attempts) == ["alice"]
    for i in range(30):
        throttle.reserve(f"new{i}")
    assert len(throttle._attempts) <= 10


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
