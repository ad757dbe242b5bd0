"""What this host's OpenSSL (the library HAProxy runs on) accepts, asked of the same library
through Python's ssl module, so the API refuses what HAProxy would refuse or silently not do.

- A cipher string from which OpenSSL selects no cipher makes HAProxy refuse the config
  (SSL_CTX_set_cipher_list fails): a 400, never an ERROR load balancer.
- A TLS version asked for must really be enabled: OpenSSL must offer it at all (Debian's
  has no SSLv3), versions must form one range (OpenSSL enables min..max; HAProxy ignores
  `no-tlsv1x` flags next to ssl-min-ver), and a version up to TLSv1.2 needs a cipher of
  the cipher string that works in it (Octavia's default ciphers are all TLSv1.2 AEAD
  suites, which TLSv1.0 cannot use). TLSv1.3 uses its own cipher suites.
"""

from __future__ import annotations

import ssl

from nslb.db.query import short
from nslb.model.tls import TLS_VERSIONS, effective_ciphers, holes

# The oldest protocol each cipher works in, as OpenSSL reports it (SSL_CIPHER_get_version).
CIPHER_PROTOCOL_RANK = {"SSLv3": 0, "TLSv1.0": 1, "TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3,
                        "TLSv1.3": 4}
AVAILABLE = {"SSLv3": ssl.HAS_SSLv3, "TLSv1": ssl.HAS_TLSv1, "TLSv1.1": ssl.HAS_TLSv1_1,
             "TLSv1.2": ssl.HAS_TLSv1_2, "TLSv1.3": ssl.HAS_TLSv1_3}


def version_problem(versions: list[str]) -> str | None:
    """Why `versions` (already known to be Octavia's names) cannot be enabled as asked."""
    missing = [v for v in versions if not AVAILABLE.get(v, False)]
    if missing:
        return (f"TLS versions not supported by this host's OpenSSL: {', '.join(missing)}")
    gaps = holes(versions)
    if gaps:
        return ("TLS versions must form one range: HAProxy cannot leave out "
                f"{', '.join(gaps)} between {', '.join(sorted(versions, key=TLS_VERSIONS.index))}")
    return None


def cipher_problem(ciphers: str, versions: list[str] | None) -> str | None:
    """Why OpenSSL would refuse `ciphers`, or leave one of `versions` without a cipher."""
    effective = effective_ciphers(ciphers, versions)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.set_ciphers(effective)
    except ssl.SSLError:
        return f"OpenSSL selects no cipher from the cipher string {short(ciphers)}"
    ranks = [CIPHER_PROTOCOL_RANK.get(c.get("protocol", ""), 4) for c in context.get_ciphers()]
    usable = [r for r in ranks if r < CIPHER_PROTOCOL_RANK["TLSv1.3"]]
    without = [v for v in versions or () if v != "TLSv1.3"
               and not any(r <= TLS_VERSIONS.index(v) for r in usable)]
    if without:
        return (f"no cipher of the cipher string works with {', '.join(without)}: add "
                "ciphers for those versions to tls_ciphers or leave them out of tls_versions")
    return None
