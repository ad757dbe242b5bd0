"""The controller's CA, join tokens and the per-connection certificate checks (nslb/pki),
and the placement of new amphorae on hosts."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from nslb.db.tables import join_token
from nslb.pki import checks, tokens
from nslb.pki.ca import (
    AGENT,
    CONTROLLER,
    CertificateAuthority,
    PkiError,
    common_name,
    controller_identity,
    make_csr,
    new_key,
    now,
    renew_due,
    role_of,
)


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.load_or_create(tmp_path / "pki")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'nslb.db'}")
    upgrade(database)
    yield database
    database.dispose()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_ca_is_made_once_with_private_files(tmp_path: Path, ca: CertificateAuthority) -> None:
    directory = tmp_path / "pki"
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    again = CertificateAuthority.load_or_create(directory)
    assert again.fingerprint == ca.fingerprint
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True


def test_issued_certificate_names_the_host_and_its_address(ca: CertificateAuthority) -> None:
    key = new_key()
    issued = ca.issue(make_csr(key, "whatever-the-agent-asks"), role=AGENT,
                      name="11111111-2222-3333-4444-555555555555",
                      addresses=("10.234.0.2", "fd00:234::2"))
    cert = issued.cert
    assert common_name(cert) == "11111111-2222-3333-4444-555555555555"
    assert role_of(cert) == AGENT
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == \
        ["10.234.0.2", "fd00:234::2"]
    assert cert.issuer == ca.cert.subject
    assert dt.timedelta(hours=23) < issued.expires - now() <= dt.timedelta(hours=24)
    assert cert.public_key() == key.public_key()


def test_a_tampered_or_foreign_request_is_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(PkiError):
        ca.issue(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", role=AGENT, name="x",
                 addresses=())
    with pytest.raises(PkiError):
        ca.issue(make_csr(new_key(), "x"), role="root", name="x", addresses=())


def test_renewal_is_due_in_the_last_third(ca: CertificateAuthority) -> None:
    cert = ca.issue(make_csr(new_key(), "h"), role=AGENT, name="h", addresses=()).cert
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert not renew_due(cert, start + (end - start) / 2)
    assert renew_due(cert, end - (end - start) / 4)


def test_controller_identity_is_kept_until_due(tmp_path: Path,
                                               ca: CertificateAuthority) -> None:
    key_path, cert_path = controller_identity(ca, tmp_path / "pki", ("127.0.0.1",))
    first = cert_path.read_bytes()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert controller_identity(ca, tmp_path / "pki", ("127.0.0.1",))[1].read_bytes() == first
    cert = x509.load_pem_x509_certificate(first)
    assert role_of(cert) == CONTROLLER


def test_peer_checks(ca: CertificateAuthority) -> None:
    at = now()
    controller = ca.issue(make_csr(new_key(), "c"), role=CONTROLLER, name=CONTROLLER,
                          addresses=()).cert
    agent = ca.issue(make_csr(new_key(), "a"), role=AGENT, name="host-1", addresses=()).cert
    expired = ca.issue(make_csr(new_key(), "c"), role=CONTROLLER, name=CONTROLLER,
                       addresses=(), lifetime=dt.timedelta(minutes=1),
                       not_before=at - dt.timedelta(hours=1)).cert
    assert checks.refusal(der(controller), role=CONTROLLER, revoked=(), at=at) is None
    assert checks.refusal(None, role=CONTROLLER, revoked=(), at=at) == "no client certificate"
    assert checks.refusal(der(agent), role=CONTROLLER, revoked=(), at=at) == \
        "certificate role is not nslb-controller"
    assert checks.refusal(der(expired), role=CONTROLLER, revoked=(), at=at) == \
        "certificate expired or not yet valid"
    assert checks.refusal(der(controller), role=CONTROLLER,
                          revoked={format(controller.serial_number, "x")}, at=at) == \
        "certificate revoked"
    assert checks.refusal(der(agent), role=AGENT, revoked=(), at=at, name="host-1") is None
    assert checks.refusal(der(agent), role=AGENT, revoked=(), at=at, name="host-2") == \
        "certificate is not for host-2"
    assert checks.refusal(b"junk", role=AGENT, revoked=(), at=at) == "unreadable certificate"


def test_token_text_round_trips_and_carries_the_fingerprint(ca: CertificateAuthority) -> None:
    token = tokens.new(ca.fingerprint)
    parsed = tokens.parse(token.text)
    assert parsed == token
    assert parsed.ca_fingerprint == ca.fingerprint
    for bad in ("", "nslb1.x.y.z", token.text + "0", token.text.replace("nslb1", "nslb2")):
        with pytest.raises(tokens.BadToken) as caught:
            tokens.parse(bad)
        assert token.secret not in str(caught.value)


def test_tokens_are_stored_hashed_single_use_and_expire(db: Database,
                                                        ca: CertificateAuthority) -> None:
    token = tokens.new(ca.fingerprint)
    with db.write() as session:
        hosts.add_token(session, token, dt.timedelta(hours=1))
    with db.read() as session:
        row = session.execute(select(join_token)).one()
    assert token.secret not in " ".join(str(v) for v in row)
    assert row.secret_hash == tokens.hash_secret(token.secret)

    forged = tokens.JoinToken(token.token_id, tokens.new("0" * 64).secret, ca.fingerprint)
    with db.write() as session:
        assert hosts.consume_token(session, forged, "h0") == "unknown join token"
        assert hosts.consume_token(session, token, "h1") is None
    with db.write() as session:
        assert hosts.consume_token(session, token, "h2") == "join token already used"
    with db.read() as session:
        assert session.execute(select(join_token.c.host_id)).scalar() == "h1"

    late = tokens.new(ca.fingerprint)
    with db.write() as session:
        hosts.add_token(session, late, dt.timedelta(minutes=10))
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=11)
    with db.write() as session:
        assert hosts.consume_token(session, late, "h3", now=after) == "join token expired"


def test_subject_is_chosen_by_the_ca_not_the_request(ca: CertificateAuthority) -> None:
    cert = ca.issue(make_csr(new_key(), "nslb-controller"), role=AGENT, name="h",
                    addresses=()).cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "h"
    assert role_of(cert) == AGENT
