"""Certificates as Octavia reads them, turned into the PEM files HAProxy loads.

Two forms of a server (or client) certificate, as Octavia's cert managers accept them:

- one secret whose payload is a PKCS12 bundle without a pass phrase (the `barbican` cert
  manager; what `openstack secret store` of a `.p12` gives);
- a legacy certificate container: `certificate`, `private_key`, optional `intermediates`
  (PEM certificates or a PKCS7 bundle) and `private_key_passphrase`.

Either way the result is one PEM bundle: certificate, unencrypted private key, then the
intermediates, the file `crt` / `set ssl cert` take. CA files (one or more PEM
certificates) and CRLs (checked against their CA) are read here too. Errors say what is
wrong, never what the payload held.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

PEM_CERT = b"-----BEGIN CERTIFICATE-----"
PEM_PKCS7 = b"-----BEGIN PKCS7-----"


class CertificateError(ValueError):
    """A certificate, key, CA or CRL that cannot be used; the message is Octavia's."""


class UnreadablePKCS12(CertificateError):
    def __init__(self, error: str) -> None:
        super().__init__("The PKCS12 bundle is unreadable. Please check the PKCS12 bundle "
                         "validity. In addition, make sure it does not require a pass "
                         f"phrase. Error: {error}")


class MissingCertSubject(CertificateError):
    def __init__(self) -> None:
        super().__init__("No CN or DNSName(s) found in certificate. The certificate is "
                         "invalid.")


class UnusableCertificate(CertificateError):
    """Unreadable PEM, a key that needs a pass phrase or does not match the certificate:
    Octavia's legacy cert manager fails get_cert, which the API reports as "Could not
    retrieve certificate"."""


@dataclass(frozen=True)
class ServerCertificate:
    """A certificate ready for HAProxy: the PEM bundle and the host names it serves."""

    pem: str
    names: tuple[str, ...]


def from_pkcs12(payload: bytes) -> ServerCertificate:
    """A PKCS12 bundle without a pass phrase."""
    try:
        bundle = pkcs12.load_pkcs12(payload, None)
    except (TypeError, ValueError) as exc:
        raise UnreadablePKCS12(_reason(exc)) from None
    if bundle.cert is None or bundle.key is None:
        raise UnreadablePKCS12("the bundle has no certificate or no private key")
    cert = bundle.cert.certificate
    chain = [c.certificate for c in bundle.additional_certs]
    return _assemble(cert, bundle.key, chain)


def from_container(parts: dict[str, bytes]) -> ServerCertificate:
    """A legacy certificate container's secrets, by their container names."""
    if "certificate" not in parts or "private_key" not in parts:
        raise UnusableCertificate("the container has no certificate or no private_key")
    cert = _one_pem_cert(parts["certificate"])
    passphrase = parts.get("private_key_passphrase") or None
    try:
        key = serialization.load_pem_private_key(parts["private_key"], passphrase)
    except (TypeError, ValueError) as exc:
        raise UnusableCertificate(f"the private key cannot be read: {_reason(exc)}") from None
    chain = intermediates(parts["intermediates"]) if parts.get("intermediates") else []
    return _assemble(cert, key, chain)


def intermediates(data: bytes) -> list[x509.Certificate]:
    """PEM certificates, or a PKCS7 bundle in PEM or DER (Octavia's get_intermediates_pems)."""
    try:
        if PEM_CERT in data:
            return x509.load_pem_x509_certificates(data)
        if PEM_PKCS7 in data:
            return pkcs7.load_pem_pkcs7_certificates(data)
        return pkcs7.load_der_pkcs7_certificates(data)
    except ValueError as exc:
        raise UnusableCertificate(f"the intermediates cannot be read: {_reason(exc)}") from None


def _one_pem_cert(data: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise UnusableCertificate("Could not read X509 from PEM") from None


PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey
              | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


def _assemble(cert: x509.Certificate, key: object,
              chain: list[x509.Certificate]) -> ServerCertificate:
    if not isinstance(key, PrivateKey):
        raise UnusableCertificate("unsupported private key type")
    if not _same_public_key(cert, key):
        raise UnusableCertificate("Key and x509 certificate do not match")
    names = host_names(cert)
    pem = b"".join([
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
        *(c.public_bytes(serialization.Encoding.PEM) for c in chain),
    ])
    return ServerCertificate(pem=pem.decode("ascii"), names=names)


def _same_public_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(cert.public_key().public_bytes(*raw) == key.public_key().public_bytes(*raw))


def host_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The CN (lower-cased) and the SAN dNSNames: what HAProxy matches SNI against. A
    certificate with neither is invalid (Octavia's MissingCertSubject)."""
    names: list[str] = []
    for attribute in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        value = attribute.value
        names.append((value if isinstance(value, str) else value.decode()).lower())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names += san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    if not names:
        raise MissingCertSubject()
    return tuple(dict.fromkeys(names))


# --- CA files and CRLs ------------------------------------------------------------------


def ca_file(payload: bytes, what: str = "client authentication CA certificate") -> str:
    """One or more PEM certificates, re-encoded (nothing but the certificates survives)."""
    try:
        certs = x509.load_pem_x509_certificates(payload)
    except ValueError as exc:
        raise CertificateError(
            f"Validation failure: The {what} is invalid. It must be a valid x509 PEM format "
            f"certificate. Error: {_reason(exc)}") from None
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs).decode("ascii")


def crl_file(payload: bytes, ca_pem: str) -> str:
    """A PEM CRL signed by (one of) the certificates of `ca_pem`, re-encoded."""
    try:
        crl = x509.load_pem_x509_crl(payload)
    except ValueError as exc:
        raise CertificateError(
            "Validation failure: The client authentication certificate revocation list is "
            "invalid. It must be a valid x509 PEM format certificate revocation list. "
            f"Error: {_reason(exc)}") from None
    cas = x509.load_pem_x509_certificates(ca_pem.encode("ascii"))
    if not any(_signed_by(crl, ca) for ca in cas):
        raise CertificateError("Validation failure: The CRL specified is not valid for "
                               "client certificate authority reference supplied.")
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey
                      | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return False
    try:
        return crl.is_signature_valid(key)
    except (TypeError, ValueError):
        return False


def _reason(exc: Exception) -> str:
    """An error's text, cut: cryptography's messages never hold the payload, but keep it
    short for the 400."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__

