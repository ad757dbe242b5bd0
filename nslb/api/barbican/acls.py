"""/v1/secrets/{id}/acl and /v1/containers/{id}/acl (barbican/api/controllers/acls.py).

Only the `read` operation exists. PUT replaces the ACL (project-access defaults to true,
users to none; a body without `read` removes it), PATCH changes only what it names,
DELETE returns to the implicit ACL. Every change stamps the entity's `updated`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, Response

from nslb.api.barbican import lookup, shapes, validate
from nslb.api.barbican.call import Call
from nslb.model.secrets import Secret, SecretContainer, now
from nslb.secrets import policy, repo
from nslb.secrets.refs import href

Finder = Callable[[Call], tuple[Secret | SecretContainer, lookup.Found]]
KINDS: dict[str, tuple[Finder, str, str]] = {
    "secrets": (lookup.secret, "secret", "SecretACL(s)"),
    "containers": (lookup.container, "container", "ContainerACL(s)"),
}


def _entity(call: Call, kind: str, action: str) -> tuple[str, str, str]:
    """(entity id, entity type, operation name) after checking the rule."""
    finder, entity_type, noun = KINDS[kind]
    entity, found = finder(call)
    found.require(call, policy.manage, f"{noun} {action}")
    return entity.id, entity_type, noun


def get(call: Call, kind: str) -> Response:
    entity_id, _, _ = _entity(call, kind, "retrieval")
    with call.db.read() as session:
        row, users = repo.acl_of(session, entity_id)
    return JSONResponse(shapes.acl(row, users))


def put(call: Call, kind: str) -> Response:
    return _change(call, kind, replace=True)


def patch(call: Call, kind: str) -> Response:
    return _change(call, kind, replace=False)


def _change(call: Call, kind: str, replace: bool) -> Response:
    entity_id, entity_type, _ = _entity(call, kind, "Update")
    call.require_content_type(["application/json"])
    change = validate.acl(call.json())
    with call.db.write() as session:
        if change is not None and replace:
            repo.set_acl(session, entity_id, entity_type,
                         True if change.project_access is None else change.project_access,
                         change.users or [])
        elif change is not None:
            repo.set_acl(session, entity_id, entity_type, change.project_access, change.users)
        elif replace:
            repo.delete_acl(session, entity_id)
        _touch(session, kind, entity_id)
    return JSONResponse({"acl_ref": href(call.base, kind, entity_id) + "/acl"})


def delete(call: Call, kind: str) -> Response:
    entity_id, _, _ = _entity(call, kind, "deletion")
    with call.db.write() as session:
        repo.delete_acl(session, entity_id)
        _touch(session, kind, entity_id)
    return Response(status_code=200)


def _touch(session: Session, kind: str, entity_id: str) -> None:
    entity = (session.get(Secret, entity_id) if kind == "secrets"
              else session.get(SecretContainer, entity_id))
    if entity is not None:
        entity.updated_at = now()
