"""The key manager as the rest of nslb sees it: seal and open payloads, and the internal
API the load balancer code uses to read what a listener or pool references.

Octavia reads certificates as its own service user, which the listener's creator adds to
the secret's read ACL (octavia/certificates/common/auth/barbican_acl.py). nslb does the
same with the user id `LOAD_BALANCER_USER`:

- `grant(ref, caller)` at API time: the caller must be allowed to read and change the
  ACL of the secret or container (Barbican's secret_acls:get/put_patch; for a legacy
  certificate container, of each secret in it too); the service user joins the read ACL.
  Anything else is `RefUnavailable`, which Octavia reports as
  "Could not retrieve certificate: [...]".
- `fetch(ref, project_id)` / `fetch_container(ref, project_id)` when rendering: the secret
  (or container and its secrets) must belong to `project_id` and be readable by the
  service: project access left on, or the service user in the read ACL. A ref of another
  project is never read, whatever its ACL says.

Payloads never appear in exceptions or logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from nslb.db.engine import Database
from nslb.model.secrets import Secret, SecretContainer, SecretPayload
from nslb.secrets import policy, refs, repo
from nslb.secrets.crypto import KeyUnavailable, PayloadKeys, associated_data, keys_for

LOAD_BALANCER_USER = "octavia"


class RefUnavailable(Exception):
    """The reference cannot be used: malformed, missing, expired, of another project, not
    readable by the load balancer service, or without a payload. Holds the ref only."""

    def __init__(self, ref: str) -> None:
        super().__init__(ref)
        self.ref = ref


@dataclass(frozen=True)
class Resolved:
    """A ref resolved to what it names: `secret` or `container` is set."""

    ref: refs.Ref
    secret: Secret | None = None
    container: SecretContainer | None = None


class SecretStore:
    def __init__(self, db: Database, keys: PayloadKeys) -> None:
        self.db = db
        self.keys = keys

    @classmethod
    def open(cls, db: Database, state_dir: Path) -> SecretStore:
        """The store of the nslb whose state directory is `state_dir`."""
        return cls(db, keys_for(state_dir))

    # --- sealing ----------------------------------------------------------------------------

    def seal(self, secret: Secret, raw: bytes) -> SecretPayload:
        key_id, sealed = self.keys.seal(raw, associated_data(secret.id, secret.project_id))
        return SecretPayload(secret_id=secret.id, key_id=key_id, ciphertext=sealed)

    def reveal(self, secret: Secret, payload: SecretPayload) -> bytes:
        return self.keys.open(payload.key_id, payload.ciphertext,
                              associated_data(secret.id, secret.project_id))

    # --- the load balancer's reads ----------------------------------------------------------

    def kind(self, ref: str) -> str:
        """"secrets" or "containers": what a ref names (RefUnavailable if neither)."""
        return _parse(ref).kind

    def fetch(self, ref: str, project_id: str) -> bytes:
        """The payload of the secret `ref`, for a load balancer of `project_id`."""
        parsed = _parse(ref)
        if parsed.kind != "secrets":
            raise RefUnavailable(ref)
        with self.db.read() as session:
            secret = repo.get_secret(session, parsed.id)
            if secret is None or not _service_reads(session, secret.id, secret.project_id,
                                                    project_id):
                raise RefUnavailable(ref)
            payload = repo.payload_of(session, secret.id)
        return self._open(ref, secret, payload)

    def fetch_container(self, ref: str, project_id: str) -> dict[str, bytes]:
        """name -> payload of each secret of the container `ref` (a certificate
        container gives certificate, private_key, intermediates,
        private_key_passphrase), for a load balancer of `project_id`."""
        parsed = _parse(ref)
        if parsed.kind != "containers":
            raise RefUnavailable(ref)
        with self.db.read() as session:
            container = repo.get_container(session, parsed.id)
            if container is None or not _service_reads(session, container.id,
                                                       container.project_id, project_id):
                raise RefUnavailable(ref)
            found = []
            for member in repo.members_of(session, [container.id])[container.id]:
                secret = repo.get_secret(session, member.secret_id)
                if secret is None or not _service_reads(session, secret.id,
                                                        secret.project_id, project_id):
                    raise RefUnavailable(ref)
                found.append((member.name or "", secret, repo.payload_of(session, secret.id)))
        return {name: self._open(ref, secret, payload) for name, secret, payload in found}

    def _open(self, ref: str, secret: Secret, payload: SecretPayload | None) -> bytes:
        if payload is None:
            raise RefUnavailable(ref)
        try:
            return self.reveal(secret, payload)
        except KeyUnavailable:
            raise RefUnavailable(ref) from None

    # --- ACL grants for the load balancer service --------------------------------------------

    def grant(self, ref: str, caller: policy.Caller) -> None:
        """Let the load balancer service read `ref` (and a container's secrets), as
        Octavia's ensure_secret_access does with the caller's token."""
        self._change_service_access(ref, caller, add=True)

    def revoke(self, ref: str, caller: policy.Caller) -> None:
        """Octavia's revoke_secret_access: take the service user off the read ACL."""
        self._change_service_access(ref, caller, add=False)

    def _change_service_access(self, ref: str, caller: policy.Caller, add: bool) -> None:
        parsed = _parse(ref)
        with self.db.write() as session:
            entities = _entities(session, parsed, caller)
            if entities is None:
                raise RefUnavailable(ref)
            set_service_access(session, entities, add)


def service_entities(session: Session, ref: str, project_id: str) -> list[tuple[str, str]]:
    """(id, type) of what the load balancer service reads for `ref` in `project_id`: the
    secret, or the container and, for a certificate container, its secrets (what `grant`
    changes). A ref naming nothing of that project gives nothing. No policy check: this is
    the service's own access to what a request already granted it."""
    try:
        parsed = refs.parse(ref)
    except refs.BadRef:
        return []
    if parsed.kind == "secrets":
        secret = repo.get_secret(session, parsed.id)
        return [(parsed.id, "secret")] if secret and secret.project_id == project_id else []
    container = repo.get_container(session, parsed.id)
    if container is None or container.project_id != project_id:
        return []
    out = [(container.id, "container")]
    if container.type == "certificate":
        for member in repo.members_of(session, [container.id])[container.id]:
            secret = repo.get_secret(session, member.secret_id)
            if secret is not None and secret.project_id == project_id:
                out.append((secret.id, "secret"))
    return out


def set_service_access(session: Session, entities: list[tuple[str, str]], add: bool) -> None:
    """Put the load balancer service on (or take it off) the read ACL of `entities`."""
    for entity_id, entity_type in entities:
        _, users = repo.acl_of(session, entity_id)
        wanted = ([*users, LOAD_BALANCER_USER] if add and LOAD_BALANCER_USER not in users
                  else [u for u in users if u != LOAD_BALANCER_USER] if not add else users)
        if wanted != users:
            repo.set_acl(session, entity_id, entity_type, None, wanted)


def _parse(ref: str) -> refs.Ref:
    try:
        return refs.parse(ref)
    except refs.BadRef:
        raise RefUnavailable(ref) from None


def _service_reads(session: Session, entity_id: str, owner: str, project_id: str) -> bool:
    if owner != project_id:
        return False
    acl, users = repo.acl_of(session, entity_id)
    return acl is None or acl.project_access or LOAD_BALANCER_USER in users


def _entities(session: Session, parsed: refs.Ref,
              caller: policy.Caller) -> list[tuple[str, str]] | None:
    """(id, type) of what a grant changes, if the caller may manage every ACL of it."""
    if parsed.kind == "secrets":
        secret = repo.get_secret(session, parsed.id)
        if secret is None or not _manages(session, secret.id, secret.project_id,
                                          secret.creator_id, caller):
            return None
        return [(secret.id, "secret")]
    container = repo.get_container(session, parsed.id)
    if container is None or not _manages(session, container.id, container.project_id,
                                         container.creator_id, caller):
        return None
    out = [(container.id, "container")]
    if container.type == "certificate":
        for member in repo.members_of(session, [container.id])[container.id]:
            secret = repo.get_secret(session, member.secret_id)
            if secret is None or not _manages(session, secret.id, secret.project_id,
                                              secret.creator_id, caller):
                return None
            out.append((secret.id, "secret"))
    return out


def _manages(session: Session, entity_id: str, project_id: str, creator_id: str | None,
             caller: policy.Caller) -> bool:
    return policy.manage(caller, repo.target(session, entity_id, project_id, creator_id,
                                             caller.user_id))
