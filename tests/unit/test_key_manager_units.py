"""The key manager's pure parts: media types and Accept, refs, Barbican's policy table,
list parameters, microversions, and the payload key ring."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from nslb.api.barbican import versions
from nslb.api.barbican.faults import BarbicanError
from nslb.api.barbican.paging import date_filters, paging, sort_keys
from nslb.secrets import crypto, media, policy, refs

UUID = "5f3c1e0a-9b7d-4c2e-8f1a-0123456789ab"


@pytest.mark.parametrize(("given", "normal"), [
    ("text/plain", "text/plain"), ("TEXT/PLAIN", "text/plain"),
    ("text/plain;charset=utf-8", "text/plain"), ("text/plain; charset=UTF-8", "text/plain"),
    ("text/plain; charset=latin-1", "text/plain; charset=latin-1"),
    ("text/plain; nonsense", "text/plain; nonsense"),
    ("application/octet-stream", "application/octet-stream"),
    ("application/pkcs8", "application/pkcs8"), ("application/json", "application/json"),
])
def test_media_types_normalise_as_barbican(given: str, normal: str) -> None:
    assert media.normalize(given) == normal
    assert media.is_supported(given) == (normal in media.SUPPORTED)


def test_encodings_per_type() -> None:
    assert media.encoding_allowed("text/plain", None)
    assert not media.encoding_allowed("text/plain", "base64")
    assert media.encoding_allowed("application/octet-stream", "base64")
    assert not media.encoding_allowed("application/octet-stream", None)
    assert not media.encoding_allowed("image/png", None)


def test_stored_bytes_and_accept() -> None:
    wrapped = base64.encodebytes(b"\x00\xff" * 40).decode()  # line-wrapped, as `base64` prints
    assert media.is_base64(wrapped) and not media.is_base64("abc")
    assert media.to_stored(wrapped, "application/octet-stream", "base64") == b"\x00\xff" * 40
    assert media.to_stored("héllo", "text/plain", None) == "héllo".encode()
    assert media.for_accept(b"hi", "text/plain") == (b"hi", "text/plain; charset=utf-8")
    assert media.for_accept(b"\xff", "application/pkcs8") == (b"\xff", "application/pkcs8")
    for accept in ("application/json", "text/plain, */*", "text/*"):
        with pytest.raises(media.NotAcceptable):
            media.for_accept(b"hi", accept)
    with pytest.raises(media.NotAcceptable):
        media.for_accept(b"\xff\xfe", "text/plain")


@pytest.mark.parametrize("ref", [
    f"http://h/key-manager/v1/secrets/{UUID}", f"https://x:1/a/b/secrets/{UUID}/",
    f"/secrets/{UUID.upper()}", f"http://h/v1/secrets/{UUID}?x=1",
])
def test_refs_by_their_last_segments(ref: str) -> None:
    assert refs.parse(ref) == refs.Ref("secrets", UUID)


@pytest.mark.parametrize("ref", [
    "", UUID, f"http://h/v1/orders/{UUID}", "http://h/v1/secrets/x", "x" * 2000,
    f"http://h/v1/secrets/{UUID}/acl", f"https://[env(HOME)]/v1/secrets/{UUID}",
])
def test_refs_that_are_not(ref: str) -> None:
    with pytest.raises(refs.BadRef):
        refs.parse(ref)


def test_canonical_uuid_only() -> None:
    assert refs.is_uuid(UUID)
    assert not refs.is_uuid(UUID.upper()) and not refs.is_uuid(UUID.replace("-", ""))


def _target(project: str = "p", creator: str | None = "u", access: bool = True,
            acl: bool = False) -> policy.Target:
    return policy.Target(project_id=project, creator_id=creator, project_access=access,
                         acl_read=acl)


def test_keystone_roles_are_implied() -> None:
    admin = policy.Caller.of("p", "a", frozenset({"admin"}))
    assert admin.roles == {"admin", "member", "reader"}
    assert policy.Caller.of("p", "m", frozenset({"member"})).roles == {"member", "reader"}


RULES = [policy.read, policy.manage, policy.get_secret, policy.delete_secret]
# (who, target, expected [read, manage, get_secret, delete_secret])
CASES = [
    (("p", "u", {"member"}), _target(), [True, True, True, True]),
    (("p", "x", {"member"}), _target(), [True, True, True, True]),
    (("p", "x", {"member"}), _target(access=False), [False, False, False, False]),
    (("p", "u", {"member"}), _target(access=False), [True, True, True, True]),
    (("p", "x", {"member"}), _target(access=False, acl=True), [True, False, True, False]),
    (("p", "x", {"admin"}), _target(access=False), [True, True, True, True]),
    (("p", "x", {"reader"}), _target(), [False, False, False, False]),
    (("p", "x", {"reader"}), _target(acl=True), [True, False, True, False]),
    (("q", "x", {"member"}), _target(), [False, False, False, False]),
    (("q", "x", {"member"}), _target(acl=True), [True, False, True, False]),
    (("q", "x", {"admin"}), _target(), [False, False, True, True]),
    (("p", None, {"member"}), _target(creator=None, access=False), [False] * 4),
    ((None, "u", {"admin"}), _target(), [False, False, True, True]),
]


@pytest.mark.parametrize(("who", "target", "expected"), CASES)
def test_barbicans_rules(who: tuple[str | None, str | None, set[str]],
                         target: policy.Target, expected: list[bool]) -> None:
    caller = policy.Caller.of(who[0], who[1], frozenset(who[2]))
    assert [rule(caller, target) for rule in RULES] == expected


def test_paging_falls_back_like_barbican() -> None:
    assert paging(None, None) == (0, 10)
    assert paging("5", "0") == (5, 1)
    assert paging("-3", "1000") == (0, 100)
    assert paging("x", "y") == (0, 10)
    assert paging(str(2**70), "") == (0, 10)


def test_date_filters_and_sort_keys() -> None:
    assert [op for op, _ in date_filters("gt:2020-01-01T00:00:00Z,lt:2021-01-01")] == ["gt",
                                                                                     "lt"]
    assert date_filters("2020-01-01T01:00:00+01:00")[0][1].hour == 0  # naive UTC
    for bad in ("gte:2020-01-01,gt:2020-01-02", "2020-01-01,2020-01-02", "lt:soon",
                ",".join(["gt:2020-01-01"] * 11)):
        with pytest.raises(BarbicanError):
            date_filters(bad)
    assert sort_keys("created:desc,name") == [("created", "desc"), ("name", "asc")]
    for bad in ("created:sideways", "project_id", "name,name", "name:asc:desc"):
        with pytest.raises(BarbicanError):
            sort_keys(bad)


def test_microversions() -> None:
    assert versions.requested(None) == "1.0"
    assert versions.requested("compute 2.1, key-manager 1.1") == "1.1"
    assert versions.requested("key-manager latest") == "1.1"
    assert versions.requested("compute 2.90") == "1.0"
    with pytest.raises(BarbicanError) as unsupported:
        versions.requested("key-manager 1.2")
    assert unsupported.value.status == 406
    with pytest.raises(BarbicanError) as garbled:
        versions.requested("key-manager v1")
    assert garbled.value.status == 400


def test_key_ring_seals_opens_and_follows_new_keys(tmp_path: Path) -> None:
    directory = tmp_path / "secret-keys"
    ring = crypto.PayloadKeys(directory)
    aad = crypto.associated_data("id", "project")
    key_id, sealed = ring.seal(b"payload", aad)
    assert key_id == 1 and b"payload" not in sealed
    assert ring.open(key_id, sealed, aad) == b"payload"
    with pytest.raises(crypto.KeyUnavailable):
        ring.open(key_id, sealed, crypto.associated_data("id", "other"))
    with pytest.raises(crypto.KeyUnavailable):
        ring.open(key_id, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "1").stat().st_mode) == 0o600
    crypto.write_key(directory, 2)  # another process rotated: a new primary appears
    os.utime(directory, ns=(0, 0))
    assert ring.seal(b"x", aad)[0] == 2
    assert ring.open(key_id, sealed, aad) == b"payload"
    (directory / "1").unlink()
    os.utime(directory, ns=(1, 1))
    with pytest.raises(crypto.KeyUnavailable) as gone:
        ring.open(1, sealed, aad)
    assert "payload" not in str(gone.value).replace("payload key", "")


def test_a_key_is_written_once(tmp_path: Path) -> None:
    """Two processes making the same key: the second fails instead of replacing a key
    the first may already have sealed with."""
    crypto.ensure(tmp_path)
    first = (tmp_path / "1").read_bytes()
    with pytest.raises(FileExistsError):
        crypto.write_key(tmp_path, 1)
    crypto.ensure(tmp_path)
    assert (tmp_path / "1").read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["1"]  # no temporary files left


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "k"
    crypto.ensure(directory)
    (directory / "2").write_bytes(base64.urlsafe_b64encode(b"short"))
    with pytest.raises(ValueError, match="not a 256-bit key"):
        crypto.PayloadKeys(directory).seal(b"x", b"")
