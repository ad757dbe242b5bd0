"""/v1/secrets/{id}/consumers (microversion 1.1; barbican/api/controllers/consumers.py):
services record which of their resources use a secret. Anyone who may read the secret
may list, add and remove them; POST and DELETE answer the secret's metadata."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from nslb.api.barbican import lookup, shapes, validate
from nslb.api.barbican.call import Call
from nslb.api.barbican.faults import abort
from nslb.api.barbican.paging import paging
from nslb.api.barbican.secrets import metadata
from nslb.model.secrets import Secret, SecretConsumer, now
from nslb.secrets import policy, repo
from nslb.secrets.refs import href


def listing(call: Call) -> Response:
    secret, found = lookup.secret(call)
    found.require(call, policy.read, "SecretConsumers(s) retrieval")
    offset, limit = paging(call.query("offset"), call.query("limit"))
    with call.db.read() as session:
        total = repo.count_consumers(session, secret.id)
        page = repo.page_consumers(session, secret.id, offset, limit)
    items = [shapes.consumer(call.base, c) for c in page]
    return JSONResponse(shapes.paged(call.base, f"secrets/{secret.id}/consumers", "consumers",
                                     items, offset, limit, total))


def create(call: Call) -> Response:
    secret, found = lookup.secret(call)
    found.require(call, policy.read, "SecretConsumer creation")
    call.require_content_type(["application/json"])
    service, resource_type, resource_id = validate.consumer(call.json())
    assert call.caller.project_id is not None
    with call.db.write() as session:
        if session.get(Secret, secret.id) is None:
            raise abort(404, "Secret not found.")
        existing = repo.find_consumer(session, secret.id, service, resource_type, resource_id)
        if existing is not None:
            existing.updated_at = now()
        else:
            session.add(SecretConsumer(secret_id=secret.id, project_id=call.caller.project_id,
                                       service=service, resource_type=resource_type,
                                       resource_id=resource_id))
    location = href(call.base, "secrets", secret.id) + "/consumers"
    return JSONResponse(metadata(call, secret), headers={"Location": location})


def delete(call: Call) -> Response:
    secret, found = lookup.secret(call)
    found.require(call, policy.read, "SecretConsumer deletion")
    call.require_content_type(["application/json"])
    service, resource_type, resource_id = validate.consumer(call.json())
    with call.db.write() as session:
        consumer = repo.find_consumer(session, secret.id, service, resource_type, resource_id)
        if consumer is None:
            raise abort(404, "Consumer not found.")
        if call.caller.project_id not in (consumer.project_id, secret.project_id):
            raise abort(403, "Not Allowed. Sorry, only the creator of a consumer can delete "
                             "it.")
        session.delete(consumer)
    return JSONResponse(metadata(call, secret))
