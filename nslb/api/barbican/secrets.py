"""/v1/secrets: store, list, show, read the payload, add a payload, delete
(barbican/api/controllers/secrets.py)."""

from __future__ import annotations

import logging
from urllib.parse import unquote_plus

from starlette.responses import JSONResponse, Response

from nslb.api.barbican import lookup, shapes, validate
from nslb.api.barbican.call import Call
from nslb.api.barbican.faults import abort, failure, issue, not_allowed
from nslb.api.barbican.paging import date_filters, paging, sort_keys
from nslb.api.barbican.versions import at_least
from nslb.model.secrets import Secret, now
from nslb.secrets import media, policy, repo
from nslb.secrets.crypto import KeyUnavailable
from nslb.secrets.refs import href

log = logging.getLogger(__name__)
JSON_ACCEPTS = ("application/json", "*/*")
PUT_TYPES = ["application/octet-stream", "text/plain"]
NO_STORE = {"Cache-Control": "no-store"}


def _consumers(call: Call, secret_ids: list[str]) -> dict[str, list] | None:
    if not at_least(call.version, "1.1"):
        return None
    with call.db.read() as session:
        return dict(repo.consumers_of(session, secret_ids))


def metadata(call: Call, secret: Secret) -> dict:
    consumers = _consumers(call, [secret.id])
    return shapes.secret(call.base, secret, None if consumers is None else consumers[secret.id])


def create(call: Call) -> Response:
    operation = "Secret creation"
    if not policy.project_collection(call.caller):
        raise not_allowed(operation)
    call.require_content_type(["application/json"])
    new = validate.new_secret(call.json())
    assert call.caller.project_id is not None
    stamp = now()
    secret = Secret(project_id=call.caller.project_id, creator_id=call.caller.user_id,
                    name=new.name, secret_type=new.secret_type, algorithm=new.algorithm,
                    bit_length=new.bit_length, mode=new.mode, expiration=new.expiration,
                    content_type=new.content_type, created_at=stamp, updated_at=stamp)
    payload = call.store.seal(secret, new.raw) if new.raw is not None else None
    with call.db.write() as session:
        repo.add_secret(session, secret, payload)
    ref = href(call.base, "secrets", secret.id)
    return JSONResponse({"secret_ref": ref}, status_code=201, headers={"Location": ref})


def listing(call: Call) -> Response:
    operation = "Secret(s) retrieval"
    if not policy.project_collection(call.caller):
        raise not_allowed(operation)
    bits_text = call.query("bits") or "0"
    filters = repo.SecretFilters(
        name=unquote_plus(call.query("name") or "") or None, alg=call.query("alg"),
        mode=call.query("mode"), bits=int(bits_text) if bits_text.isdigit() else 0,
        secret_type=call.query("secret_type"),
        created=date_filters(call.query("created")),
        updated=date_filters(call.query("updated")),
        expiration=date_filters(call.query("expiration")),
        sort=sort_keys(call.query("sort")))
    offset, limit = paging(call.query("offset"), call.query("limit"))
    acl_only = (call.query("acl_only") or "").lower() == "true" and call.caller.user_id
    with call.db.read() as session:
        found, total = repo.list_secrets(session, call.caller.project_id, filters, offset,
                                         limit, call.caller.user_id if acl_only else None)
    consumers = _consumers(call, [s.id for s in found])
    items = [shapes.secret(call.base, s, None if consumers is None else consumers[s.id])
             for s in found]
    kept = [(k, v) for k, v in call.request.query_params.multi_items()
            if k not in ("limit", "offset")]
    return JSONResponse(shapes.paged(call.base, "secrets", "secrets", items, offset, limit,
                                     total, kept))


def show(call: Call) -> Response:
    """Metadata for Accept absent, application/json or */*; any other Accept is the
    deprecated payload read, under secret:decrypt."""
    secret, found = lookup.secret(call)
    accept = call.header("accept")
    if accept is None or accept in JSON_ACCEPTS:
        found.require(call, policy.get_secret, "Secret retrieval")
        return JSONResponse(metadata(call, secret))
    return _payload(call, secret, found, "Secret retrieval")


def payload(call: Call) -> Response:
    secret, found = lookup.secret(call)
    return _payload(call, secret, found, "Secret payload retrieval")


def _payload(call: Call, secret: Secret, found: lookup.Found, operation: str) -> Response:
    found.require(call, policy.read, operation)
    accept = call.header("accept") or "application/octet-stream"
    with call.db.read() as session:
        stored = repo.payload_of(session, secret.id)
    if stored is None or secret.content_type is None:
        raise abort(404, "Not Found. Sorry but your secret has no payload.")
    if accept == "*/*":
        accept = secret.content_type
    if not media.is_supported(accept):
        raise issue(operation, 406, "Wrong payload content-type")
    try:
        raw = call.store.reveal(secret, stored)
    except KeyUnavailable as exc:
        log.error("secret %s: %s", secret.id, exc)
        raise failure(operation) from None
    try:
        body, media_type = media.for_accept(raw, accept)
    except media.NotAcceptable:
        raise issue(operation, 406, "Wrong payload content-type") from None
    return Response(body, media_type=media_type, headers=NO_STORE)


def put(call: Call) -> Response:
    """Add the payload to a secret stored without one; a secret's data never changes."""
    operation = "Secret update"
    secret, found = lookup.secret(call)
    found.require(call, policy.manage, operation)
    call.require_content_type(PUT_TYPES)
    if not call.body:
        raise issue(operation, 400, "No data supplied to process")
    if len(call.body) > validate.MAX_SECRET_BYTES:
        raise issue(operation, 413, validate.TOO_LARGE)
    media_type = call.content_type()
    encoding = call.header("content-encoding")
    if media_type == "text/plain" or not encoding:
        raw = call.body
    elif encoding.lower() == "base64":
        if not media.is_base64(call.body.decode("ascii", "ignore")):
            raise issue(operation, 400, "Unable to decode request data")
        raw = media.to_stored(call.body, media_type, "base64")
    else:
        raise issue(operation, 400, "content-encoding not supported")
    with call.db.write() as session:
        current = session.get(Secret, secret.id)
        if current is None:
            raise abort(404, "Secret not found.")
        if repo.payload_of(session, secret.id) is not None:
            raise abort(409, "Secret already has data, cannot modify it.")
        current.content_type = media_type
        current.updated_at = now()
        session.add(call.store.seal(current, raw))
    return Response(status_code=204)


def delete(call: Call) -> Response:
    secret, found = lookup.secret(call)
    found.require(call, policy.delete_secret, "Secret deletion")
    with call.db.write() as session:
        repo.delete_secret(session, secret.id)
    return Response(status_code=204)
