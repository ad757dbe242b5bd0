"""The controller's CA: made under `<state-dir>/pki` on first start, it signs short-lived
certificates for agents (CN = host id, SAN = the host's address) and for the controller
itself (its client certificate towards agents and the server certificate of its join
listener). A certificate's role is its OrganizationalUnit: an agent accepts only a
controller's certificate, a controller only an agent's.

Private keys are written 0600 before a byte of them is, and never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONTROLLER = "nslb-controller"
AGENT = "nslb-agent"
ROLES = (CONTROLLER, AGENT)
# Agents' and the controller's certificates live a day and are renewed once a third of
# that is left (renew_due); the CA lives ten years.
CERT_LIFETIME = dt.timedelta(hours=24)
CA_LIFETIME = dt.timedelta(days=3650)
CA_NAME = "nslb controller CA"


class PkiError(ValueError):
    """A certificate request or file that cannot be used; the message says why."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """sha256 of the DER certificate, lower-case hex: what a join token pins."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def write_private(path: Path, data: bytes) -> None:
    """Write a secret atomically, the file 0600 from its creation."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    """A PEM certificate request; the CA decides names and role, not the requester."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])).sign(
            key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def role_of(cert: x509.Certificate) -> str | None:
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    value = units[0].value if units else None
    return value if isinstance(value, str) and value in ROLES else None


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate

    @property
    def serial(self) -> str:
        return serial_text(self.cert.serial_number)

    @property
    def expires(self) -> dt.datetime:
        return self.cert.not_valid_after_utc

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)


def serial_text(serial: int) -> str:
    """A serial as the database and the revoked list hold it (hex, no leading zeros)."""
    return format(serial, "x")


def renew_due(cert: x509.Certificate, at: dt.datetime | None = None) -> bool:
    """True once less than a third of the certificate's life is left."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return (at or now()) >= end - (end - start) / 3


class CertificateAuthority:
    """The CA's key and certificate, and the one way certificates are made."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    @classmethod
    def load_or_create(cls, directory: Path) -> CertificateAuthority:
        """`<directory>/ca.key` (0600) and `ca.pem`, made on first use."""
        key_path, cert_path = directory / "ca.key", directory / "ca.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise PkiError(f"{key_path} is not an EC private key")
            return cls(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        key = new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, socket.gethostname())])
        start = now() - dt.timedelta(minutes=5)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + CA_LIFETIME)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(key, hashes.SHA256()))
        write_private(key_path, key_pem(key))
        write_public(cert_path, cert_pem(cert))
        return cls(key, cert)

    @property
    def pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    def issue(self, csr_pem: bytes, *, role: str, name: str, addresses: tuple[str, ...],
              lifetime: dt.timedelta = CERT_LIFETIME,
              not_before: dt.datetime | None = None) -> Issued:
        """Sign a CSR for `role`: CN `name`, SANs `addresses`; the request's own names are
        ignored. `not_before` is for tests of expired certificates."""
        if role not in ROLES:
            raise PkiError(f"unknown role {role!r}")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise PkiError(f"not a PEM certificate request: {exc}") from None
        if not csr.is_signature_valid:
            raise PkiError("the certificate request's signature does not verify")
        if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey):
            raise PkiError("the certificate request must carry an EC key")
        start = not_before or now() - dt.timedelta(minutes=5)
        usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([
                       x509.NameAttribute(NameOID.COMMON_NAME, name),
                       x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)]))
                   .issuer_name(self.cert.subject).public_key(csr.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + lifetime)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.key.public_key()), critical=False))
        if addresses:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([san_entry(a) for a in addresses]), critical=False)
        return Issued(builder.sign(self.key, hashes.SHA256()))


def controller_identity(ca: CertificateAuthority, directory: Path,
                        names: tuple[str, ...]) -> tuple[Path, Path]:
    """The controller's own key and certificate under `directory` (controller.key 0600,
    controller.pem), issued again when missing or due for renewal. Returns both paths."""
    key_path, cert_path = directory / "controller.key", directory / "controller.pem"
    if key_path.exists() and cert_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if not renew_due(cert) and cert.issuer == ca.cert.subject:
            return key_path, cert_path
    key = new_key()
    issued = ca.issue(make_csr(key, CONTROLLER), role=CONTROLLER, name=CONTROLLER,
                      addresses=names)
    write_private(key_path, key_pem(key))
    write_public(cert_path, issued.pem)
    return key_path, cert_path
