"""Certificates made in the test with `cryptography`: a CA, server and client certificates
signed by it, CRLs, and the two forms Octavia reads a certificate in (a PKCS12 bundle in
one secret; a legacy certificate container of PEM secrets). Shared by the functional,
integration and contract tests and the TLS benchmark."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


@dataclass
class Issued:
    """A certificate and its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def pkcs12(self, chain: list[x509.Certificate] | None = None) -> bytes:
        """A PKCS12 bundle without a pass phrase (what Octavia's barbican cert manager
        reads from one secret)."""
        return pkcs12.serialize_key_and_certificates(
            b"tls", self.key, self.cert, chain or None, serialization.NoEncryption())

    @property
    def serial(self) -> int:
        return self.cert.serial_number


@dataclass
class Authority:
    """A CA that signs server and client certificates and CRLs."""

    name: str
    root: Issued = field(init=False)

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(self.name)
        cert = (_builder(subject, subject, key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        self.root = Issued(cert, key)

    @property
    def pem(self) -> bytes:
        return self.root.cert_pem

    def server(self, *names: str, cn: str | None = None) -> Issued:
        """A server certificate for the dNSNames `names` (CN: `cn`, else the first)."""
        return self._issue(cn or names[0], [x509.DNSName(n) for n in names],
                           ExtendedKeyUsageOID.SERVER_AUTH)

    def server_ip(self, address: str) -> Issued:
        """A server certificate for an IP address (a member reached by its address)."""
        return self._issue(address, [x509.IPAddress(ipaddress.ip_address(address))],
                           ExtendedKeyUsageOID.SERVER_AUTH)

    def client(self, cn: str) -> Issued:
        return self._issue(cn, [], ExtendedKeyUsageOID.CLIENT_AUTH)

    def crl(self, *revoked: Issued) -> bytes:
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.root.cert.subject)
                   .last_update(NOW - DAY).next_update(NOW + 30 * DAY))
        for issued in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(issued.serial)
                .revocation_date(NOW - DAY).build())
        return builder.sign(self.root.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM)

    def _issue(self, cn: str, names: list[x509.GeneralName],
               usage: x509.ObjectIdentifier) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (_builder(_name(cn), self.root.cert.subject, key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return Issued(builder.sign(self.root.key, hashes.SHA256()), key)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nslb tests")])


def _builder(subject: x509.Name, issuer: x509.Name,
             public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY))


# --- the key manager, through its HTTP API (any client with .post: httpx, TestClient) ------

KEY_MANAGER = "/key-manager/v1"


def store_secret(http: object, payload: bytes, name: str = "tls",
                 secret_type: str = "opaque") -> str:
    """`openstack secret store` of `payload` (base64, application/octet-stream)."""
    import base64
    resp = http.post(f"{KEY_MANAGER}/secrets", json={  # type: ignore[attr-defined]
        "name": name, "payload": base64.b64encode(payload).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64", "secret_type": secret_type})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["secret_ref"])


def store_container(http: object, issued: Issued, name: str = "tls",
                    intermediates: bytes | None = None) -> str:
    """A legacy certificate container of PEM secrets (certificate, private_key, and
    intermediates when given)."""
    parts = {"certificate": issued.cert_pem, "private_key": issued.key_pem}
    if intermediates:
        parts["intermediates"] = intermediates
    refs = [{"name": part, "secret_ref": store_secret(http, data, f"{name}-{part}",
                                                      "certificate" if part != "private_key"
                                                      else "private")}
            for part, data in parts.items()]
    resp = http.post(f"{KEY_MANAGER}/containers", json={  # type: ignore[attr-defined]
        "name": name, "type": "certificate", "secret_refs": refs})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["container_ref"])
