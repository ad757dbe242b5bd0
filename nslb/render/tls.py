"""TLS in haproxy.cfg, and the files it names: a TERMINATED_HTTPS listener's bind options
and certificate list, a re-encrypting pool's server options.

Files live in the amphora's directory under `tls/<listener or pool id>/`, named by slot
(`default`, `sni-<n>`, `client`, ...), never by content: a rotated certificate keeps its
path, so the config text does not change and the new content can be handed to the running
haproxy (`set ssl cert <path>`). Every value passes nslb.render.values; the material is
PEM the worker re-encoded from what the key manager held (nslb.tls.certs).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from nslb.model import tls
from nslb.model.resources import Listener, Pool
from nslb.model.tls import ListenerTls, PoolTls
from nslb.render import values as v

HSTS_HEADER = "Strict-Transport-Security"


def listener_files(listener: Listener, material: ListenerTls) -> dict[str, str]:
    """Bundle-relative name -> content of the listener's TLS files."""
    lid = v.uuid(listener.id, "listener id")
    files: dict[str, str] = {}
    if material.default:
        files[tls.tls_file(lid, "default", tls.CERT)] = _pem(material.default)
    for n, pem in enumerate(material.sni):
        files[tls.tls_file(lid, f"sni-{n}", tls.CERT)] = _pem(pem)
    if material.client_ca and listener.client_ca_tls_container_ref:
        files[tls.tls_file(lid, "client", tls.CA)] = _pem(material.client_ca)
        if material.client_crl and listener.client_crl_container_ref:
            files[tls.tls_file(lid, "client", tls.CRL)] = _pem(material.client_crl)
    return files


def crt_list(listener: Listener, files: dict[str, str], base: str) -> tuple[str, str]:
    """(name, content) of the listener's certificate list: the default certificate first
    (HAProxy serves the first one when no SNI matches), then the SNI ones in order."""
    lid = v.uuid(listener.id, "listener id")
    certs = [name for name in files if name.endswith(tls.CERT)]
    lines = [_path(base, name) for name in certs]
    return tls.tls_file(lid, "certs", tls.CRT_LIST), "".join(f"{line}\n" for line in lines)


def bind_options(listener: Listener, files: dict[str, str], base: str) -> str:
    """`ssl crt-list ...` and the listener's client authentication and TLS options."""
    lid = v.uuid(listener.id, "listener id")
    options = [f"ssl crt-list {_path(base, tls.tls_file(lid, 'certs', tls.CRT_LIST))}"]
    ca = tls.tls_file(lid, "client", tls.CA)
    if ca in files:
        mode = v.word(listener.client_authentication, tls.CLIENT_AUTH, "client_authentication")
        options.append(f"ca-file {_path(base, ca)} verify {tls.CLIENT_AUTH[mode]}")
        crl = tls.tls_file(lid, "client", tls.CRL)
        if crl in files:
            options.append(f"crl-file {_path(base, crl)}")
    options += _protocol_options(listener.tls_ciphers, listener.tls_versions,
                                 listener.alpn_protocols)
    return " ".join(options)


def hsts_value(listener: Listener) -> str | None:
    """The Strict-Transport-Security value (Octavia's spelling), if HSTS is on."""
    if listener.hsts_max_age is None:
        return None
    value = f"max-age={v.integer(listener.hsts_max_age, 0, what='hsts_max_age')};"
    if listener.hsts_include_subdomains:
        value += " includeSubDomains;"
    if listener.hsts_preload:
        value += " preload;"
    return value


def pool_files(pool: Pool, material: PoolTls) -> dict[str, str]:
    pid = v.uuid(pool.id, "pool id")
    files: dict[str, str] = {}
    if material.certificate and pool.tls_container_ref:
        files[tls.tls_file(pid, tls.CLIENT_SLOT, tls.CERT)] = _pem(material.certificate)
    if material.ca and pool.ca_tls_container_ref:
        files[tls.tls_file(pid, tls.MEMBERS_SLOT, tls.CA)] = _pem(material.ca)
        if material.crl and pool.crl_container_ref:
            files[tls.tls_file(pid, tls.MEMBERS_SLOT, tls.CRL)] = _pem(material.crl)
    return files


def server_options(pool: Pool, files: dict[str, str], base: str) -> list[str]:
    """Options of every server of a re-encrypting pool, in Octavia's order: ssl, client
    certificate, CA (verify required) or verify none, SNI passed on, TLS options."""
    pid = v.uuid(pool.id, "pool id")
    options = ["ssl"]
    cert = tls.tls_file(pid, tls.CLIENT_SLOT, tls.CERT)
    if cert in files:
        options.append(f"crt {_path(base, cert)}")
    ca = tls.tls_file(pid, tls.MEMBERS_SLOT, tls.CA)
    if ca in files:
        options.append(f"ca-file {_path(base, ca)}")
        crl = tls.tls_file(pid, tls.MEMBERS_SLOT, tls.CRL)
        if crl in files:
            options.append(f"crl-file {_path(base, crl)}")
        options.append("verify required")
    else:
        options.append("verify none")
    options.append("sni ssl_fc_sni")
    options += _protocol_options(pool.tls_ciphers, pool.tls_versions, pool.alpn_protocols)
    return options


def check_alpn(pool: Pool) -> str | None:
    """`check-alpn` for HTTPS checks of a re-encrypting pool (its ALPN list)."""
    return f"check-alpn {_alpn(pool.alpn_protocols)}" if pool.alpn_protocols else None


def _protocol_options(ciphers: str | None, versions: list[str] | None,
                      alpn: list[str] | None) -> list[str]:
    """ciphers, ssl-min-ver/ssl-max-ver (one range: nslb.tls.openssl refuses holes at the
    API), alpn. @SECLEVEL=0 joins the ciphers when TLSv1.0/1.1 are asked for."""
    options = []
    checked = [v.matching(x, "TLS_VERSION", "tls_versions") for x in versions or ()]
    if ciphers:
        text = tls.effective_ciphers(v.matching(ciphers, "TLS_CIPHERS", "tls_ciphers"), checked)
        options.append(f"ciphers {v.matching(text, 'TLS_CIPHERS', 'tls_ciphers')}")
    if checked:
        if tls.holes(checked):
            raise v.UnsafeValue("tls_versions")
        low, high = tls.version_range(checked)
        options.append(f"ssl-min-ver {tls.HAPROXY_VERSION[low]} "
                       f"ssl-max-ver {tls.HAPROXY_VERSION[high]}")
    if alpn:
        options.append(f"alpn {_alpn(alpn)}")
    return options


def _alpn(protocols: list[str]) -> str:
    return ",".join(v.matching(p, "ALPN_ID", "alpn_protocols") for p in protocols)


def _path(base: str, name: str) -> str:
    return v.file_path(str(PurePosixPath(base) / name), "TLS file")


def _pem(text: str) -> str:
    """PEM as written: ASCII lines, no blank line (a blank line ends a runtime-API
    payload), one newline at the end."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines or not all(line.isascii() and line.isprintable() for line in lines):
        raise v.UnsafeValue("TLS material")
    return "\n".join(lines) + "\n"
