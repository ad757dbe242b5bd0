"""TLS fields of listeners and pools: Octavia's defaults, rules and messages, what this
host's OpenSSL would refuse, and the key-manager refs they name.

Two steps, because the second writes in the key manager (it adds the load balancer
service to a secret's read ACL, as Octavia's set_acls does) and SQLite takes one writer
at a time: handlers run `listener_rules`/`pool_rules` (pure) and `Refs.*` (grant, then
read and parse what the LB will serve) *before* opening their own write transaction.
A ref that cannot be granted or read is Octavia's 400 "Could not retrieve certificate:
[...]"; a PKCS12 bundle that cannot be read, a certificate without a name, an invalid CA
or CRL get Octavia's own messages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request

from nslb.api.faults import BadRequest, NotImplementedOption, ValidationFailure
from nslb.api.http import context
from nslb.db.query import short
from nslb.model import grammar, tls
from nslb.secrets.policy import Caller
from nslb.secrets.store import RefUnavailable, SecretStore
from nslb.tls import access, certs, material, openssl

TERMINATED = "TERMINATED_HTTPS"
PROMETHEUS = "PROMETHEUS"
LISTENER_FIELDS = ("default_tls_container_ref", "sni_container_refs",
                   "client_ca_tls_container_ref", "client_authentication",
                   "client_crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols",
                   "hsts_max_age", "hsts_include_subdomains", "hsts_preload")
POOL_FIELDS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref",
               "tls_ciphers", "tls_versions", "alpn_protocols")


class RetrievalFailure(BadRequest):
    """Octavia's CertificateRetrievalException (the refs as a Python list). A ref is
    echoed whole up to 100 characters (a well-formed one is shorter), cut beyond."""

    def __init__(self, refs: list[str]) -> None:
        super().__init__(f"Could not retrieve certificate: {[short(r, 100) for r in refs]!r}")


# --- defaults and explicit nulls -----------------------------------------------------------


def listener_defaults(fields: dict[str, Any]) -> None:
    """Octavia's create_listener: a TERMINATED_HTTPS listener gets the default ciphers,
    versions and ALPN list for what it leaves out."""
    fields.setdefault("client_authentication", "NONE")
    if fields.get("protocol") == TERMINATED:
        _defaults(fields, alpn=True)


def pool_defaults(fields: dict[str, Any]) -> None:
    """Octavia's create_pool: defaults only for a pool created with tls_enabled."""
    if fields.get("tls_enabled"):
        _defaults(fields, alpn=True)


def _defaults(fields: dict[str, Any], alpn: bool) -> None:
    if fields.get("tls_ciphers") is None:
        fields["tls_ciphers"] = tls.DEFAULT_CIPHERS
    if fields.get("tls_versions") is None:
        fields["tls_versions"] = list(tls.DEFAULT_TLS_VERSIONS)
    if alpn and fields.get("alpn_protocols") is None:
        fields["alpn_protocols"] = list(tls.DEFAULT_ALPN)


def listener_nulls(changes: dict[str, Any]) -> dict[str, Any]:
    """A listener PUT's explicit nulls as Octavia's _set_default_on_none reads them."""
    out = dict(changes)
    for key, value in changes.items():
        if value is not None:
            continue
        if key == "sni_container_refs":
            out[key] = []
        elif key == "client_authentication":
            out[key] = "NONE"
        elif key in ("hsts_include_subdomains", "hsts_preload"):
            out[key] = False
        elif key == "tls_ciphers":
            out[key] = tls.DEFAULT_CIPHERS
        elif key == "tls_versions":
            out[key] = list(tls.DEFAULT_TLS_VERSIONS)
        elif key == "alpn_protocols":
            out[key] = list(tls.DEFAULT_ALPN)
    return out


def pool_nulls(changes: dict[str, Any]) -> dict[str, Any]:
    """A pool PUT's explicit nulls: versions and ciphers back to the defaults (Octavia's
    pool put); refs and the ALPN list cleared."""
    out = dict(changes)
    if "tls_versions" in changes and changes["tls_versions"] is None:
        out["tls_versions"] = list(tls.DEFAULT_TLS_VERSIONS)
    if "tls_ciphers" in changes and changes["tls_ciphers"] is None:
        out["tls_ciphers"] = tls.DEFAULT_CIPHERS
    return out


# --- rules (pure) --------------------------------------------------------------------------


def listener_rules(state: dict[str, Any], update: dict[str, Any] | None = None) -> None:
    """Octavia's listener TLS rules over the listener as it will be (`state`); `update`
    is a PUT's own fields, for the checks Octavia words differently on update."""
    protocol = state["protocol"]
    certificates = state.get("default_tls_container_ref") or state.get("sni_container_refs")
    ca, crl = state.get("client_ca_tls_container_ref"), state.get("client_crl_container_ref")
    if protocol == PROMETHEUS and (certificates or ca):
        # Octavia serves its PROMETHEUS listener over TLS too; nslb's exporter is plain HTTP
        name = "default_tls_container_ref" if certificates else "client_ca_tls_container_ref"
        raise NotImplementedOption(f"{name} on a PROMETHEUS listener")
    if protocol != TERMINATED and (certificates or ca):
        raise ValidationFailure("Certificate container references are not allowed on "
                                f"{protocol} protocol listeners.")
    if ca and not certificates:
        raise ValidationFailure("An SNI or default certificate container reference must be "
                                "provided with a client CA container reference.")
    if protocol == TERMINATED and not certificates:
        raise ValidationFailure("An SNI or default certificate container reference must be "
                                f"provided for {protocol} protocol listeners.")
    auth = state.get("client_authentication") or "NONE"
    if auth != "NONE" and not ca:
        raise ValidationFailure(f"Client authentication setting {auth} requires a client CA "
                                "container reference.")
    if crl and not ca:
        raise ValidationFailure("A client authentication CA reference is required to "
                                "specify a client authentication revocation list.")
    refs = state.get("sni_container_refs") or []
    if len(set(refs)) != len(refs):
        raise ValidationFailure("sni_container_refs contains duplicate entries.")
    _cipher_chars(state.get("tls_ciphers"))
    if protocol == TERMINATED:
        _protocol_rules(state)
    _hsts_rules(state, update)


def pool_rules(state: dict[str, Any], update: dict[str, Any] | None = None,
               had_ca: bool = False) -> None:
    """Octavia's pool TLS rules over the pool as it will be; `had_ca`: before the PUT."""
    ca, crl = state.get("ca_tls_container_ref"), state.get("crl_container_ref")
    if crl and not ca:
        if update is None:
            raise ValidationFailure("A CA certificate reference is required to specify a "
                                    "revocation list.")
        if had_ca and "ca_tls_container_ref" in update:
            raise ValidationFailure("A CA reference cannot be removed when a certificate "
                                    "revocation list is present.")
        raise ValidationFailure("A CA reference is required to specify a certificate "
                                "revocation list.")
    _cipher_chars(state.get("tls_ciphers"))
    if state.get("tls_enabled"):
        _protocol_rules(state)


def _cipher_chars(ciphers: str | None) -> None:
    if ciphers is not None and not grammar.TLS_CIPHERS.fullmatch(ciphers):
        raise ValidationFailure("Invalid characters in cipher string. Only alphanumeric, -, +, "
                                "!, :, @, =, _, and . are allowed.")


def _protocol_rules(state: dict[str, Any]) -> None:
    """Versions and ALPN ids (Octavia's checks), then what OpenSSL would do with them."""
    versions = state.get("tls_versions")
    if versions == []:
        raise ValidationFailure("Empty TLS version list. Either specify at least one TLS "
                                "version or remove this parameter to use the default.")
    invalid = [v for v in versions or () if v not in tls.TLS_VERSIONS]
    if invalid:
        raise ValidationFailure("Invalid TLS versions: " + ", ".join(invalid))
    if state.get("alpn_protocols") == []:
        raise ValidationFailure("Empty ALPN protocol list. Either specify at least one ALPN "
                                "protocol or remove this parameter to use the default.")
    if versions:
        problem = openssl.version_problem(list(dict.fromkeys(versions)))
        if problem:
            raise ValidationFailure(problem)
    ciphers = state.get("tls_ciphers")
    if ciphers:
        problem = openssl.cipher_problem(ciphers, versions)
        if problem:
            raise ValidationFailure(problem)


def _hsts_rules(state: dict[str, Any], update: dict[str, Any] | None) -> None:
    wanted = state.get("hsts_include_subdomains") or state.get("hsts_preload")
    max_age = state.get("hsts_max_age")
    if update is None:
        if wanted and max_age is None:
            raise ValidationFailure("HSTS configuration options hsts_include_subdomains and "
                                    "hsts_preload only make sense if hsts_max_age is set as "
                                    "well.")
        if max_age is not None and state["protocol"] != TERMINATED:
            raise ValidationFailure("The HSTS feature can only be used for listeners using "
                                    "the TERMINATED_HTTPS protocol.")
        return
    if (update.get("hsts_include_subdomains") or update.get("hsts_preload")) \
            and max_age is None:
        raise ValidationFailure("Cannot enable hsts_include_subdomains or hsts_preload if "
                                "hsts_max_age was not set as well.")
    if update.get("hsts_max_age") is not None and state["protocol"] != TERMINATED:
        raise ValidationFailure("The HSTS feature can only be used for listeners using the "
                                "TERMINATED_HTTPS protocol.")


# --- refs: grant the load balancer service read access, then read what it will serve ------


class Refs:
    """The key-manager refs of one request, granted and read for the LB's project."""

    def __init__(self, request: Request, project_id: str) -> None:
        ctx = context(request)
        self.caller = Caller.of(ctx.project_id, ctx.user_id, ctx.roles)
        settings = request.app.state.settings
        self.store = SecretStore.open(request.app.state.db, settings.state_dir)
        self.project_id = project_id
        # what this request granted, held again in its write transaction (`follow`)
        self.granted: set[str] = _granted(request)

    def listener(self, state: dict[str, Any], changed: set[str] | None = None) -> None:
        """The refs of a listener being created (`changed` None) or those a PUT gives;
        the CA and CRL are checked together when either is given, as Octavia does."""
        wanted = set(LISTENER_FIELDS) if changed is None else changed
        cert_refs: list[str] = []
        if "sni_container_refs" in wanted:
            cert_refs += state.get("sni_container_refs") or []
        if "default_tls_container_ref" in wanted and state.get("default_tls_container_ref"):
            cert_refs.append(state["default_tls_container_ref"])
        self.certificates(cert_refs)
        ca = state.get("client_ca_tls_container_ref")
        if ca and wanted & {"client_ca_tls_container_ref", "client_crl_container_ref"}:
            self.ca_and_crl(ca, state.get("client_crl_container_ref"),
                            "client authentication CA certificate")

    def pool(self, state: dict[str, Any], changed: set[str] | None = None) -> None:
        wanted = set(POOL_FIELDS) if changed is None else changed
        if "tls_container_ref" in wanted and state.get("tls_container_ref"):
            self.certificates([state["tls_container_ref"]])
        ca = state.get("ca_tls_container_ref")
        if ca and wanted & {"ca_tls_container_ref", "crl_container_ref"}:
            self.ca_and_crl(ca, state.get("crl_container_ref"),
                            "client authentication CA certificate")

    def certificates(self, refs: list[str]) -> None:
        """Octavia's _validate_tls_refs: every ref granted and readable, or one 400 naming
        all that are not; an unreadable PKCS12 bundle is its own 400."""
        bad = []
        for ref in refs:
            try:
                self.store.grant(ref, self.caller)
                self.granted.add(ref)
                material.certificate(self.store, ref, self.project_id)
            except (certs.UnreadablePKCS12, certs.MissingCertSubject) as exc:
                raise BadRequest(str(exc)) from None
            except (RefUnavailable, certs.CertificateError):
                bad.append(ref)
        if bad:
            raise RetrievalFailure(bad)

    def ca_and_crl(self, ca_ref: str, crl_ref: str | None, what: str) -> None:
        """Octavia's _validate_client_ca_and_crl_refs."""
        bad = []
        payloads: dict[str, bytes] = {}
        for ref in (ca_ref, crl_ref):
            if not ref:
                continue
            try:
                self.store.grant(ref, self.caller)
                self.granted.add(ref)
                payloads[ref] = self.store.fetch(ref, self.project_id)
            except RefUnavailable:
                bad.append(ref)
        if bad:
            raise RetrievalFailure(bad)
        try:
            ca_pem = certs.ca_file(payloads[ca_ref], what)
            if crl_ref:
                certs.crl_file(payloads[crl_ref], ca_pem)
        except certs.CertificateError as exc:
            raise BadRequest(str(exc)) from None


def _granted(request: Request) -> set[str]:
    granted: set[str] | None = getattr(request.state, "tls_granted", None)
    if granted is None:
        granted = request.state.tls_granted = set()
    return granted


def follow(session: Session, request: Request, project_id: str,
           released: set[str] | None = None) -> None:
    """In a write transaction, after the change: the service stays on the ACLs this
    request granted, and leaves those of `released` (the refs a deleted or changed
    object named) that no listener or pool of the project still names
    (nslb.tls.access)."""
    access.hold(session, project_id, _granted(request))
    if released:
        access.release(session, project_id, released)


refs_of = access.refs_of


def state_of(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def has_refs(state: dict[str, Any]) -> bool:
    return any(state.get(name) for name in (
        "default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
        "client_crl_container_ref", "tls_container_ref", "ca_tls_container_ref",
        "crl_container_ref"))


def check_new(request: Request, project_id: str, listeners: list[Any],
              pools: list[Any]) -> None:
    """Grant and read every ref of new listeners and pools (before the write transaction)."""
    states = ([("listener", state_of(li, ("protocol", *LISTENER_FIELDS))) for li in listeners]
              + [("pool", state_of(p, ("tls_enabled", *POOL_FIELDS))) for p in pools])
    wanted = [(kind, state) for kind, state in states if has_refs(state)]
    if not wanted:
        return
    refs = Refs(request, project_id)
    for kind, state in wanted:
        if kind == "listener":
            refs.listener(state)
        else:
            refs.pool(state)
