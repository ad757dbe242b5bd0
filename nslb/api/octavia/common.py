"""Pieces every Octavia resource handler uses: lookups with project scoping, list
responses, and the commit-then-wake-the-worker step."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api import listing
from nslb.api.coalesce import Coalescer
from nslb.api.context import Context
from nslb.api.faults import BadRequest, Forbidden, NotFound
from nslb.api.http import Handler, base_url, context, respond
from nslb.api.kept import Kept
from nslb.api.policy import DENIED
from nslb.db.engine import Database
from nslb.db.query import ListQuery, QueryError, run_list
from nslb.lbaas.locks import display

Render = Callable[[Session, list[Any]], list[dict[str, Any]]]
_LISTS: Coalescer[bytes] = Coalescer()
_KEPT = Kept()


def db(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


def kick(request: Request, lb_id: str | None = None) -> None:
    """Wake the worker: a change was committed (to `lb_id`'s tree, when it is known: the
    worker plans that LB first, by itself)."""
    request.app.state.kick(lb_id)


def find(session: Session, cls: type, ident: str, ctx: Context,
         label: str | None = None) -> Any:
    """The object, or Octavia's 404 when it is missing or belongs to another project.

    A caller who may read every project (a global observer) but not change this one gets
    Octavia's 403 on a change instead: it can see the object exists, so the 404 that hides
    other projects' objects from everyone else would only be wrong here.
    """
    obj = session.get(cls, ident)
    scope = ctx.scope()
    if obj is None:
        raise NotFound.of(label or display(cls), ident)
    if scope is not None and obj.project_id != scope:
        if ctx.writing and ctx.reads_all_projects:
            raise Forbidden(DENIED)
        raise NotFound.of(label or display(cls), ident)
    return obj


def list_response(request: Request, cls: type, collection: str, render: Render,
                  fixed: dict[str, Any] | None = None, key: str = "id",
                  plain: bool = False) -> Response:
    """Filter, sort, paginate, render and wrap a collection the Octavia way. `key` is the
    attribute a page marker names (quotas have no id: their project_id). `plain`: `render`
    only reads the mapped attributes, so it is given plain rows, not ORM objects
    (db/query.run_list)."""
    q = listing.parse_list(request)
    ctx = context(request)
    scope = dict(fixed or {})
    if ctx.scope() is not None:
        scope["project_id"] = ctx.scope()
    if not plain:
        return _list(request, cls, collection, render, q, scope, key, plain)
    # Everything the response depends on (api/coalesce.py): the database (one process
    # may serve two apps), the collection, the query, the caller's scope and the links.
    same = (db(request), collection, request.url.path, request.url.query,
            tuple(sorted(scope.items())), base_url(request), key)
    version = db(request).version.current()  # before reading (api/kept.py)
    body = _KEPT.get(same, version, lambda: _LISTS.run(same, lambda: bytes(
        _list(request, cls, collection, render, q, scope, key, plain).body)))
    return Response(body, media_type="application/json")


def _list(request: Request, cls: type, collection: str, render: Render, q: ListQuery,
          scope: dict[str, Any], key: str, plain: bool) -> Response:
    with db(request).read() as session:
        try:
            rows = run_list(session, cls, q, scope=scope, plain=plain)
        except QueryError as exc:
            raise BadRequest(str(exc)) from None
        items = render(session, rows)
    fields = listing.fields_of(request)
    body = {
        collection: [listing.select_fields(i, fields) for i in items],
        f"{collection}_links": listing.page_links(
            request, q, [{"id": i[key]} for i in items], base_url(request)),
    }
    return respond(body)


def show_response(request: Request, root: str, item: dict[str, Any]) -> Response:
    return respond({root: listing.select_fields(item, listing.fields_of(request))})



def read_endpoints(cls: type, collection: str, root: str,
                   render: Render) -> tuple[Handler, Handler]:
    """GET on the collection and GET on one object of a top-level resource. `render` reads
    attributes only (api/octavia/views.py), so the collection is rendered from plain rows."""

    async def list_all(request: Request) -> Response:
        return list_response(request, cls, collection, render, plain=True)

    async def show(request: Request) -> Response:
        with db(request).read() as session:
            obj = find(session, cls, request.path_params["id"], context(request))
            return show_response(request, root, render(session, [obj])[0])

    return list_all, show


# PUT semantics: null empties a text or list field, resets a listener limit to Octavia's
# default, clears an optional reference, and is refused for anything else.
EMPTY_ON_NULL: dict[str, Any] = {"name": "", "description": "", "tags": [],
                                 "allowed_cidrs": [], "insert_headers": {}}
DEFAULT_ON_NULL: dict[str, Any] = {"connection_limit": -1, "timeout_client_data": 50000,
                                   "timeout_member_connect": 5000,
                                   "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
                                   "connection_logging": True,
                                   # health monitors (_set_default_on_none)
                                   "http_method": "GET", "url_path": "/",
                                   "expected_codes": "200", "max_retries_down": 3}
CLEARABLE = frozenset({"default_pool_id", "session_persistence", "monitor_address",
                       "monitor_port", "domain_name", "http_version"})


def apply_changes(obj: Any, changes: dict[str, Any]) -> None:
    """Copy PUT fields onto the object with Octavia's treatment of explicit nulls."""
    for key, value in changes.items():
        if value is None:
            if key in EMPTY_ON_NULL:
                value = copy.copy(EMPTY_ON_NULL[key])
            elif key in DEFAULT_ON_NULL:
                value = DEFAULT_ON_NULL[key]
            elif key not in CLEARABLE:
                raise BadRequest(f"Invalid input for field/attribute {key}. Value: 'None'. "
                                 "Mandatory field missing.")
        setattr(obj, key, value)
