"""/v1/containers: named references to secrets of one project
(barbican/api/controllers/containers.py). A container holds refs only; reading a
secret through one still needs the secret's own rights."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from nslb.api.barbican import lookup, shapes, validate
from nslb.api.barbican.call import Call
from nslb.api.barbican.faults import abort, not_allowed
from nslb.api.barbican.paging import paging
from nslb.api.http import shown
from nslb.model.secrets import SecretContainer, now
from nslb.secrets import policy, repo
from nslb.secrets.refs import href

MODIFY_CONFLICT = ("Conflict. A secret with that name and ID is already stored in this "
                   "container. The same secret can exist in a container as long as the name "
                   "is unique.")


def _own_secret_exists(call: Call, secret_id: str) -> bool:
    with call.db.read() as session:
        secret = repo.get_secret(session, secret_id)
    return secret is not None and secret.project_id == call.caller.project_id


def create(call: Call) -> Response:
    if not policy.project_collection(call.caller):
        raise not_allowed("Container creation")
    call.require_content_type(["application/json"])
    new = validate.new_container(call.json(), call.base)
    for name, secret_id in new.members:
        if not _own_secret_exists(call, secret_id):
            raise abort(404, f"Secret provided for '{shown(name)}' doesn't exist.")
    assert call.caller.project_id is not None
    stamp = now()
    container = SecretContainer(project_id=call.caller.project_id,
                                creator_id=call.caller.user_id, name=new.name, type=new.type,
                                created_at=stamp, updated_at=stamp)
    with call.db.write() as session:
        repo.add_container(session, container, new.members)
    ref = href(call.base, "containers", container.id)
    return JSONResponse({"container_ref": ref}, status_code=201, headers={"Location": ref})


def listing(call: Call) -> Response:
    if not policy.project_collection(call.caller):
        raise not_allowed("Containers(s) retrieval")
    offset, limit = paging(call.query("offset"), call.query("limit"))
    assert call.caller.project_id is not None
    with call.db.read() as session:
        found, total = repo.list_containers(session, call.caller.project_id,
                                            call.query("name"), call.query("type"), offset,
                                            limit)
        members = repo.members_of(session, [c.id for c in found])
    items = [shapes.container(call.base, c, members[c.id]) for c in found]
    return JSONResponse(shapes.paged(call.base, "containers", "containers", items, offset,
                                     limit, total))


def show(call: Call) -> Response:
    container, found = lookup.container(call)
    found.require(call, policy.read, "Container retrieval")
    with call.db.read() as session:
        members = repo.members_of(session, [container.id])[container.id]
    return JSONResponse(shapes.container(call.base, container, members))


def delete(call: Call) -> Response:
    container, found = lookup.container(call)
    found.require(call, policy.manage, "Container deletion")
    with call.db.write() as session:
        repo.delete_container(session, container.id)
    return Response(status_code=204)


def add_secret(call: Call) -> Response:
    """POST /v1/containers/{id}/secrets: one more reference in a generic container."""
    container, found = lookup.container(call)
    found.require(call, policy.manage, "Container Secret creation")
    call.require_content_type(["application/json"])
    if container.type != "generic":
        raise abort(400, "Only 'generic' containers can be modified.")
    name, ref = validate.container_secret(call.json())
    secret_id = validate.secret_id_of(ref)
    if not _own_secret_exists(call, secret_id):
        raise abort(404, "Secret provided doesn't exist.")
    with call.db.write() as session:
        current = session.get(SecretContainer, container.id)
        if current is None:
            raise abort(404, "Secrets container not found.")
        members = repo.members_of(session, [container.id])[container.id]
        if any(m.secret_id == secret_id and m.name == name for m in members):
            raise abort(409, MODIFY_CONFLICT)
        repo.add_member(session, current, name, secret_id)
    ref_out = href(call.base, "containers", container.id)
    return JSONResponse({"container_ref": ref_out}, status_code=201,
                        headers={"Location": ref_out})


def remove_secret(call: Call) -> Response:
    container, found = lookup.container(call)
    found.require(call, policy.manage, "Container Secret deletion")
    name, ref = validate.container_secret(call.json())
    secret_id = validate.secret_id_of(ref)
    if not _own_secret_exists(call, secret_id):
        raise abort(404, f"Secret '{shown(name)}' with reference '{shown(ref)}' doesn't "
                         "exist.")
    with call.db.write() as session:
        current = session.get(SecretContainer, container.id)
        members = repo.members_of(session, [container.id])[container.id]
        matching = [m for m in members if m.secret_id == secret_id and m.name == name]
        if current is None or not matching:
            raise abort(404, "Secret provided is not in the container")
        for member in matching:
            repo.remove_member(session, current, member)
    return Response(status_code=204)
