"""TLS as Octavia spells it (versions, ALPN ids, defaults), the certificate material a
snapshot carries, and how that material is named inside an amphora's bundle.

Material is PEM text that the worker resolved from the key manager: it never lives in the
database, only in the snapshot, the bundle and the amphora's own directory.
"""

from __future__ import annotations

from dataclasses import dataclass

# Octavia's TLS_ALL_VERSIONS, oldest first.
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# HAProxy's spelling of each, for ssl-min-ver / ssl-max-ver.
HAPROXY_VERSION = {"SSLv3": "SSLv3", "TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1",
                   "TLSv1.2": "TLSv1.2", "TLSv1.3": "TLSv1.3"}
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")

# Octavia's defaults (api_settings: CIPHERS_OWASP_SUITE_B, TLS_VERSIONS_OWASP_SUITE_B, and
# the ALPN lists), for listeners and pools alike.
DEFAULT_CIPHERS = ("TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                   "TLS_CHACHA20_POLY1305_SHA256:"
                   "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                   "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
                   "DHE-RSA-CHACHA20-POLY1305")
DEFAULT_TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
DEFAULT_ALPN = ("h2", "http/1.1", "http/1.0")

CLIENT_AUTH = {"NONE": "none", "OPTIONAL": "optional", "MANDATORY": "required"}

# The X-SSL-Client-* headers a TERMINATED_HTTPS listener can insert, with the HAProxy
# sample each one carries (Octavia's templates).
SSL_HEADERS = {
    "X-SSL-Client-Verify": "%[ssl_c_verify]",
    "X-SSL-Client-Has-Cert": "%[ssl_c_used]",
    "X-SSL-Client-DN": "%{+Q}[ssl_c_s_dn]",
    "X-SSL-Client-CN": "%{+Q}[ssl_c_s_dn(cn)]",
    "X-SSL-Issuer": "%{+Q}[ssl_c_i_dn]",
    "X-SSL-Client-SHA1": "%{+Q}[ssl_c_sha1,hex]",
    "X-SSL-Client-Not-Before": "%{+Q}[ssl_c_notbefore]",
    "X-SSL-Client-Not-After": "%{+Q}[ssl_c_notafter]",
}


def version_range(versions: list[str] | tuple[str, ...]) -> tuple[str, str]:
    """The lowest and highest of `versions` (Octavia's names). HAProxy and OpenSSL enable a
    contiguous range only, which is why the API refuses a list with a hole in it."""
    ordered = sorted(versions, key=TLS_VERSIONS.index)
    return ordered[0], ordered[-1]


def holes(versions: list[str] | tuple[str, ...]) -> list[str]:
    """Versions between the lowest and highest asked for that are not asked for."""
    low, high = version_range(versions)
    inside = TLS_VERSIONS[TLS_VERSIONS.index(low):TLS_VERSIONS.index(high) + 1]
    return [v for v in inside if v not in versions]


def needs_seclevel_zero(versions: list[str] | tuple[str, ...]) -> bool:
    """OpenSSL 3 refuses TLSv1.0 and 1.1 handshakes at its default security level (their
    signatures use SHA-1), so asking for them means asking for @SECLEVEL=0."""
    return any(v in ("SSLv3", "TLSv1", "TLSv1.1") for v in versions)


def effective_ciphers(ciphers: str, versions: list[str] | tuple[str, ...] | None) -> str:
    """The cipher string HAProxy gets: the user's, with @SECLEVEL=0 appended when an old
    version is asked for and the string sets no security level of its own."""
    if versions and needs_seclevel_zero(versions) and "@SECLEVEL" not in ciphers:
        return f"{ciphers}:@SECLEVEL=0"
    return ciphers


@dataclass(frozen=True)
class ListenerTls:
    """What a TERMINATED_HTTPS listener serves: PEM bundles (certificate, key,
    intermediates) for the default certificate and each SNI one, and the client CA and
    CRL files."""

    default: str | None = None
    sni: tuple[str, ...] = ()
    client_ca: str | None = None
    client_crl: str | None = None


@dataclass(frozen=True)
class PoolTls:
    """What a pool re-encrypting to its members uses: its client certificate (PEM bundle),
    the CA its members' certificates are checked against, and that CA's CRL."""

    certificate: str | None = None
    ca: str | None = None
    crl: str | None = None


# --- file names inside a bundle (`tls/<object id>/<slot><suffix>`) -----------------------

TLS_DIR = "tls"
CERT = ".crt.pem"        # certificate + key + chain: `set ssl cert`
CA = ".ca.pem"           # `set ssl ca-file`
CRL = ".crl.pem"         # `set ssl crl-file`
CRT_LIST = ".crt-list"   # the listener's list of certificates: changes need a reload
# Slots of a re-encrypting pool: its client certificate, and the CA file and CRL its
# members' certificates are checked against.
CLIENT_SLOT = "client"
MEMBERS_SLOT = "members"


def tls_file(object_id: str, slot: str, suffix: str) -> str:
    """The bundle-relative name of one TLS file of a listener or pool."""
    return f"{TLS_DIR}/{object_id}/{slot}{suffix}"


def tls_file_kind(name: str) -> str | None:
    """"cert", "ca", "crl" or "crt-list" for a bundle TLS file name, None for other files."""
    if not name.startswith(f"{TLS_DIR}/"):
        return None
    for suffix, kind in ((CERT, "cert"), (CA, "ca"), (CRL, "crl"), (CRT_LIST, "crt-list")):
        if name.endswith(suffix):
            return kind
    return None
