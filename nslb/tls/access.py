"""The load balancer service's read access to the secrets a project's listeners and pools
name, kept no wider than their use.

Octavia adds its service user to a secret's read ACL when a listener or pool starts to use
it (nslb.api.octavia.tls.Refs, with the caller's right to change that ACL) and never takes it off.
nslb takes it off when the last listener or pool of the project that named the secret
stops naming it (deleted, or pointed at another ref), so a secret the load balancer no
longer serves is no longer readable by it.

Both steps run inside the API's write transaction of the change:
- `hold(session, refs)` puts the service back on the ACLs of the refs a create or update
  names, which the request already granted with the caller's rights before the
  transaction; a release that ran in between (another request's delete) cannot leave a
  new listener with a secret the worker may not read.
- `release(session, project_id, refs)` takes the service off the ACLs of `refs` that no
  live (not PENDING_DELETE or DELETED) listener or pool of the project still names. A
  certificate container counts with its secrets: a secret in use through a container, or
  directly, stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db.tables import listener as listener_table
from nslb.db.tables import pool as pool_table
from nslb.model.status import ProvisioningStatus as P
from nslb.secrets.store import service_entities, set_service_access

LISTENER_REFS = ("default_tls_container_ref", "client_ca_tls_container_ref",
                 "client_crl_container_ref")
POOL_REFS = ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref")
GONE = (P.PENDING_DELETE, P.DELETED)


def refs_of(obj: Any) -> set[str]:
    """Every key-manager ref a listener or pool names."""
    found = {getattr(obj, name, None) for name in (*LISTENER_REFS, *POOL_REFS)}
    found.update(getattr(obj, "sni_container_refs", None) or ())
    return {ref for ref in found if ref}


def in_use(session: Session, project_id: str) -> set[str]:
    """The refs the project's live listeners and pools name."""
    used: set[str] = set()
    listeners = select(listener_table.c.sni_container_refs,
                       *(listener_table.c[name] for name in LISTENER_REFS)).where(
        listener_table.c.project_id == project_id,
        listener_table.c.provisioning_status.not_in(GONE),
        listener_table.c.protocol == "TERMINATED_HTTPS")
    for sni, *refs in session.execute(listeners):
        used.update(sni or ())
        used.update(r for r in refs if r)
    pools = select(*(pool_table.c[name] for name in POOL_REFS)).where(
        pool_table.c.project_id == project_id, pool_table.c.provisioning_status.not_in(GONE))
    for row in session.execute(pools):
        used.update(r for r in row if r)
    return used


def hold(session: Session, project_id: str, refs: Iterable[str]) -> None:
    """The service on the read ACL of `refs` (already granted by this request)."""
    set_service_access(session, _entities(session, project_id, refs), add=True)


def release(session: Session, project_id: str, refs: Iterable[str]) -> None:
    """The service off the read ACL of `refs` that the project no longer uses. Call after
    the change is made in `session` (flushed or not: the query sees the session's rows)."""
    wanted = set(refs)
    if not wanted:
        return
    session.flush()
    kept = set(_entities(session, project_id, in_use(session, project_id)))
    set_service_access(session, [e for e in _entities(session, project_id, wanted)
                                 if e not in kept], add=False)


def _entities(session: Session, project_id: str, refs: Iterable[str]) -> list[tuple[str, str]]:
    """The project's own secrets and containers that `refs` give the service access to."""
    out: dict[tuple[str, str], None] = {}
    for ref in sorted(set(refs)):
        out.update(dict.fromkeys(service_entities(session, ref, project_id)))
    return list(out)
