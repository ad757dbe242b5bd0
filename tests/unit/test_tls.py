"""TLS without haproxy: certificates in both of Octavia's forms, CA and CRL files, what this
host's OpenSSL accepts, version ranges, bind/server options, and the runtime commands that
rotate a file in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from nslb.amphora import tls_files
from nslb.model import tls
from nslb.model.resources import Listener, Pool
from nslb.render import tls as render_tls
from nslb.render.values import UnsafeValue
from nslb.tls import certs, openssl
from tests.tls_material import Authority

CA = Authority("unit CA")
WWW = CA.server("www.example.com", "www2.example.com")
LID = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"


def test_pkcs12_and_container_give_the_same_bundle() -> None:
    from_p12 = certs.from_pkcs12(WWW.pkcs12([CA.root.cert]))
    from_container = certs.from_container({"certificate": WWW.cert_pem,
                                           "private_key": WWW.key_pem,
                                           "intermediates": CA.pem})
    assert from_p12 == from_container
    assert from_p12.names == ("www.example.com", "www2.example.com")
    assert from_p12.pem.index("BEGIN CERTIFICATE") < from_p12.pem.index("PRIVATE KEY") \
        < from_p12.pem.rindex("BEGIN CERTIFICATE")


def test_unusable_certificates_say_why_without_the_payload() -> None:
    with pytest.raises(certs.UnreadablePKCS12, match="PKCS12 bundle is unreadable"):
        certs.from_pkcs12(b"secret-bytes-not-pkcs12")
    other = CA.server("other.example.com")
    with pytest.raises(certs.UnusableCertificate, match="do not match"):
        certs.from_container({"certificate": WWW.cert_pem, "private_key": other.key_pem})
    with pytest.raises(certs.CertificateError, match="not valid for client certificate"):
        certs.crl_file(Authority("another").crl(), CA.pem.decode())
    assert certs.crl_file(CA.crl(WWW), CA.pem.decode()).startswith("-----BEGIN X509 CRL")


@pytest.mark.parametrize(("versions", "expected"), [
    (["TLSv1.2", "TLSv1.3"], ("TLSv1.2", "TLSv1.3")),
    (["TLSv1.3", "TLSv1"], None),  # a hole: TLSv1.1 and TLSv1.2 left out
    (["TLSv1.1"], ("TLSv1.1", "TLSv1.1")),
])
def test_versions_are_one_range(versions: list[str], expected: tuple[str, str] | None) -> None:
    if expected is None:
        assert tls.holes(versions) == ["TLSv1.1", "TLSv1.2"]
        assert "one range" in (openssl.version_problem(versions) or "")
    else:
        assert tls.version_range(versions) == expected and tls.holes(versions) == []


def test_openssl_refuses_what_haproxy_would() -> None:
    assert openssl.cipher_problem(tls.DEFAULT_CIPHERS, ["TLSv1.2", "TLSv1.3"]) is None
    assert "selects no cipher" in (openssl.cipher_problem("NOPE-NOPE", None) or "")
    # Octavia's default ciphers are TLSv1.2 AEAD suites: nothing for TLSv1.1
    assert "TLSv1.1" in (openssl.cipher_problem(tls.DEFAULT_CIPHERS, ["TLSv1.1", "TLSv1.2"])
                         or "")
    assert openssl.cipher_problem("ECDHE-RSA-AES128-SHA", ["TLSv1", "TLSv1.1"]) is None
    assert tls.effective_ciphers("ECDHE-RSA-AES128-SHA", ["TLSv1"]) == \
        "ECDHE-RSA-AES128-SHA:@SECLEVEL=0"


def test_bind_options_enable_the_range_asked_for() -> None:
    listener = Listener(id=LID, protocol="TERMINATED_HTTPS", protocol_port=443,
                        default_tls_container_ref="r", client_ca_tls_container_ref="c",
                        client_authentication="MANDATORY", tls_versions=["TLSv1", "TLSv1.1"],
                        tls_ciphers="ECDHE-RSA-AES128-SHA", alpn_protocols=["http/1.1"])
    material = tls.ListenerTls(default=certs.from_pkcs12(WWW.pkcs12()).pem,
                               client_ca=CA.pem.decode())
    files = render_tls.listener_files(listener, material)
    options = render_tls.bind_options(listener, files, "/amp")
    assert options == (
        f"ssl crt-list /amp/tls/{LID}/certs.crt-list ca-file /amp/tls/{LID}/client.ca.pem "
        "verify required ciphers ECDHE-RSA-AES128-SHA:@SECLEVEL=0 "
        "ssl-min-ver TLSv1.0 ssl-max-ver TLSv1.1 alpn http/1.1")
    listener.tls_versions = ["TLSv1", "TLSv1.2"]
    with pytest.raises(UnsafeValue):
        render_tls.bind_options(listener, files, "/amp")


def test_pool_without_ca_verifies_nothing_as_octavia() -> None:
    pool = Pool(id=LID, protocol="HTTP", tls_enabled=True)
    assert render_tls.server_options(pool, {}, "/amp") == ["ssl", "verify none",
                                                           "sni ssl_fc_sni"]


def test_pem_with_a_blank_line_cannot_end_a_runtime_payload_early() -> None:
    listener = Listener(id=LID, protocol="TERMINATED_HTTPS", protocol_port=443,
                        default_tls_container_ref="r")
    pem = certs.from_pkcs12(WWW.pkcs12()).pem
    pem = pem.replace("\n-----BEGIN PRIVATE", "\n\n-----BEGIN PRIVATE")
    (text,) = render_tls.listener_files(listener, tls.ListenerTls(default=pem)).values()
    assert "\n\n" not in text


def test_rotation_commands(tmp_path: Path) -> None:
    cert = tls.tls_file(LID, "default", tls.CERT)
    crl = tls.tls_file(LID, "client", tls.CRL)
    changes = {cert: "-----BEGIN CERTIFICATE-----\nAA\n", crl: "-----BEGIN X509 CRL-----\nBB\n"}
    commands = tls_files.rotation_commands(tmp_path, changes)
    assert commands is not None
    assert [c.line.split(" <<")[0] for c in commands] == [
        f"set ssl crl-file {tmp_path / crl}", f"commit ssl crl-file {tmp_path / crl}",
        f"set ssl cert {tmp_path / cert}", f"commit ssl cert {tmp_path / cert}"]
    assert commands[2].line.endswith("<<\n-----BEGIN CERTIFICATE-----\nAA\n")
    assert commands[1].succeeded(f"Committing {tmp_path / crl}..\nSuccess!\n")
    assert not commands[1].succeeded("No ongoing transaction! !\nCan't commit\n")
    # a certificate list names files: a reload, never a runtime change
    crt_list = tls.tls_file(LID, "certs", tls.CRT_LIST)
    assert tls_files.rotation_commands(tmp_path, {**changes, crt_list: "x\n"}) is None


def test_files_are_written_private_and_pruned(tmp_path: Path) -> None:
    cert = tls.tls_file(LID, "default", tls.CERT)
    tls_files.write(tmp_path, {cert: "pem\n"}, None)
    assert (tmp_path / cert).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / cert).parent.stat().st_mode & 0o777 == 0o700
    assert tls_files.changed(tmp_path, {cert: "pem\n"}) == {}
    assert tls_files.changed(tmp_path, {cert: "new\n"}) == {cert: "new\n"}
    tls_files.prune(tmp_path, {})
    assert not (tmp_path / "tls" / LID).exists()


def test_a_pool_ca_or_crl_reaches_its_servers_at_run_time_only_with_a_client_cert(
        tmp_path: Path) -> None:
    """HAProxy 2.6 applies a committed CA file or CRL to server lines through their
    certificate instance, which only a server with `crt` has: without the pool's client
    certificate the change must reload (tests/integration/test_api_tls_ca_rotation.py)."""
    pid = "1b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    ca = tls.tls_file(pid, tls.MEMBERS_SLOT, tls.CA)
    crl = tls.tls_file(pid, tls.MEMBERS_SLOT, tls.CRL)
    changes = {ca: "-----BEGIN CERTIFICATE-----\nAA\n", crl: "-----BEGIN X509 CRL-----\nBB\n"}
    assert tls_files.rotation_commands(tmp_path, changes) is None
    for name in (ca, crl):
        assert tls_files.rotation_commands(tmp_path, {name: changes[name]}) is None
    tls_files.write(tmp_path, {tls.tls_file(pid, tls.CLIENT_SLOT, tls.CERT): "pem\n"}, None)
    commands = tls_files.rotation_commands(tmp_path, changes)
    assert commands is not None
    assert [c.line.split(" <<")[0] for c in commands] == [
        f"set ssl ca-file {tmp_path / ca}", f"commit ssl ca-file {tmp_path / ca}",
        f"set ssl crl-file {tmp_path / crl}", f"commit ssl crl-file {tmp_path / crl}"]
    # a listener's client CA always goes through the runtime API (bind lines have
    # certificate instances)
    listener_ca = tls.tls_file(LID, "client", tls.CA)
    assert tls_files.rotation_commands(tmp_path, {listener_ca: changes[ca]}) is not None
