"""Helpers shared by the Neutron-compatible resources: wire conventions (timestamps with
a Z, tenant_id next to project_id), body checks with Neutron's wording, the mapping of
IPAM errors to HTTP, and one list implementation with Neutron's `<collection>_links`.

Every string a body may carry is bounded by the column that stores it (Neutron's 255 for
names, descriptions, tags and project ids), so no database ever sees a value it would
refuse with an error of its own (a 500 on PostgreSQL, probe F11).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from nslb.api.context import Context
from nslb.api.faults import ApiError, BadRequest, Conflict, Forbidden, NotFound
from nslb.api.http import context, respond
from nslb.api.listing import fields_of, page_links, parse_list, select_fields
from nslb.db.ports import visible, visible_clause
from nslb.db.query import ListQuery, MarkerNotFound, QueryError, run_list, short
from nslb.model.ipam import AddressInUse, GatewayAddress, IpamError, NoFreeAddress

# nslb keeps no revision counter; every object reports the revision Neutron gives a new one.
REVISION = 1
MAX_LEN = 255  # Neutron's name/description/tag/project id limit, and nslb's columns
Text = Annotated[str, StringConstraints(max_length=MAX_LEN)]
Ident = Annotated[str, StringConstraints(max_length=MAX_LEN)]  # looked up, never stored
Tags = list[Text]


def iso(value: datetime | None) -> str | None:
    """Neutron prints UTC timestamps with a Z suffix, to the second."""
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def standard_attrs(obj: Any) -> dict[str, Any]:
    """The attributes every Neutron resource carries."""
    return {
        "id": obj.id,
        "name": obj.name,
        "description": obj.description,
        "tenant_id": obj.project_id,
        "project_id": obj.project_id,
        "tags": list(obj.tags),
        "created_at": iso(obj.created_at),
        "updated_at": iso(obj.updated_at or obj.created_at),
        "revision_number": REVISION,
    }


def not_found(kind: str, ident: str) -> NotFound:
    fault = NotFound(f"{kind} {short(ident)} could not be found.")
    fault.neutron_type = f"{kind}NotFound"
    return fault


def conflict(message: str, neutron_type: str) -> Conflict:
    """A 409 carrying Neutron's exception name (NetworkInUse, VlanIdInUse, ...)."""
    fault = Conflict(message)
    fault.neutron_type = neutron_type
    return fault


def bad_request(message: str, neutron_type: str) -> BadRequest:
    """A 400 carrying Neutron's exception name (HostRoutesExhausted, ...)."""
    fault = BadRequest(message)
    fault.neutron_type = neutron_type
    return fault


MAX_NAMED = 5  # unknown attributes a message names (the body may hold thousands)


def check_attributes(body: dict[str, Any], allowed: set[str]) -> None:
    """Neutron refuses attributes it does not know rather than ignoring them. The names
    are the user's own keys: each is cut, and only the first few are named."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        names = ", ".join(short(k) for k in unknown[:MAX_NAMED])
        more = f" and {len(unknown) - MAX_NAMED} more" if len(unknown) > MAX_NAMED else ""
        raise BadRequest(f"Unrecognized attribute(s) '{names}'{more}")


def check_read_only(body: dict[str, Any], updatable: set[str]) -> None:
    fixed = sorted(set(body) - updatable)
    if fixed:
        raise BadRequest(f"Cannot update read-only attribute {short(fixed[0])}")


def project_for(ctx: Context, body: dict[str, Any]) -> str:
    """Owner of a new object: the body's project_id/tenant_id, else the caller's."""
    project, tenant = _project_attr(body, "project_id"), _project_attr(body, "tenant_id")
    if project and tenant and project != tenant:
        raise BadRequest("'project_id' and 'tenant_id' do not match")
    return ctx.require_project(project or tenant)


def _project_attr(body: dict[str, Any], key: str) -> str | None:
    """Neutron's type:string validation of a project id: a string of at most 255."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_input(key, f"'{short(value)}' is not a valid string")
    if len(value) > MAX_LEN:
        raise invalid_input(key, f"'{short(value)}' exceeds maximum length of {MAX_LEN}")
    return value


def invalid_input(attribute: str, reason: str) -> BadRequest:
    """Neutron's InvalidInput wording for one attribute."""
    return BadRequest(f"Invalid input for {attribute}. Reason: {reason}.")


def policy_denied(rule: str) -> Forbidden:
    """Neutron's PolicyNotAuthorized (403), naming the rule that failed."""
    return Forbidden(f"({rule}) is disallowed by policy")


def check_owner(ctx: Context, owner: str, action: str) -> None:
    """Neutron's admin_or_owner for changes: an object the caller can see but does not
    own (a shared network, its subnets) is 403; objects it cannot see are 404 before."""
    if not ctx.is_admin and owner != ctx.project_id:
        raise policy_denied(f"rule:{action}")


def check_admin_attributes(ctx: Context, raw: dict[str, Any], action: str,
                           attributes: Sequence[str]) -> None:
    """Neutron's admin_only attributes (shared, provider:*): set at all on update, or to a
    value other than the default on create, they need an admin."""
    if ctx.is_admin:
        return
    creating = action.startswith("create")
    for name in attributes:
        if name in raw and (not creating or raw[name] not in (None, False)):
            raise policy_denied(f"rule:{action} and rule:{action}:{name}")


def ipam_fault(exc: IpamError) -> ApiError:
    """AddressInUse and exhaustion are conflicts (Neutron's IpAddressInUse and
    IpAddressGenerationFailure); every other IPAM error is a bad request."""
    if isinstance(exc, AddressInUse):
        return conflict(exc.message, "IpAddressInUse")
    if isinstance(exc, NoFreeAddress):
        return conflict(exc.message, "IpAddressGenerationFailure")
    if isinstance(exc, GatewayAddress):
        return Forbidden(exc.message)
    return BadRequest(exc.message)


@dataclass
class Collection:
    """How one resource lists: its class, wire names and filter spellings."""

    cls: type
    singular: str
    plural: str
    wire: Callable[[Session, list[Any]], list[dict[str, Any]]]
    # wire filter name -> column ("provider:network_type" -> "network_type")
    columns: dict[str, str] = field(default_factory=dict)
    # wire-only attributes with one value for every object: a filter matches all or none
    constants: dict[str, Any] = field(default_factory=dict)


def _split_constants(q: ListQuery, coll: Collection) -> tuple[ListQuery, bool]:
    """Drop filters on constant attributes; False when one can never match."""
    filters: dict[str, list[str]] = {}
    matches = True
    for key, values in q.filters.items():
        if key in coll.constants:
            wanted = str(coll.constants[key]).lower()
            matches = matches and wanted in (v.lower() for v in values)
        else:
            filters[coll.columns.get(key, key)] = values
    return replace(q, filters=filters), matches


def _visible_page(session: Session, coll: Collection, q: ListQuery, ctx: Context) -> list[Any]:
    """One page of what the caller may see, paged in SQL. A marker outside that (another
    project's private object) answers as Neutron answers an unknown one: its 404."""
    where = () if ctx.is_admin else (visible_clause(coll.cls, ctx.project_id),)
    try:
        return run_list(session, coll.cls, q, where=where)
    except MarkerNotFound as exc:
        raise not_found(coll.singular.capitalize(), exc.marker) from None
    except QueryError as exc:
        raise BadRequest(str(exc)) from None


def list_collection(request: Request, session: Session, coll: Collection,
                    ctx: Context) -> dict[str, Any]:
    """GET on a collection with filters, fields, sorting and pagination."""
    q, matches = _split_constants(parse_list(request), coll)
    q = replace(q, sort=[(coll.columns.get(k, k), d) for k, d in q.sort])
    rows = _visible_page(session, coll, q, ctx) if matches else []
    items = [for_caller(i, ctx) for i in coll.wire(session, rows)]
    body: dict[str, Any] = {coll.plural: [select_fields(i, fields_of(request)) for i in items]}
    if "limit" in request.query_params or q.marker:
        base = request.app.state.settings.public_url or f"{request.url.scheme}://" \
            f"{request.url.netloc}"
        body[f"{coll.plural}_links"] = page_links(request, q, items, base)
    return body


def show(request: Request, item: dict[str, Any], singular: str) -> dict[str, Any]:
    return {singular: select_fields(for_caller(item, context(request)), fields_of(request))}


def for_caller(item: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Neutron's policy shows `provider:*` (the physical plumbing) to admins only."""
    if ctx.is_admin:
        return item
    return {k: v for k, v in item.items() if not k.startswith("provider:")}


def find(session: Session, cls: type, ident: str, ctx: Context, kind: str) -> Any:
    """The object if it exists and the caller may see it, else Neutron's 404."""
    obj = session.get(cls, ident)
    if obj is None or not visible(obj, ctx.project_id, ctx.is_admin):
        raise not_found(kind, ident)
    return obj


def ids_of(rows: Sequence[Any]) -> list[str]:
    return [r.id for r in rows]


def index_endpoint(coll: Collection) -> Callable[[Request], Awaitable[Response]]:
    """GET on a collection, as one handler shared by networks, subnets and ports."""

    async def index(request: Request) -> Response:
        with request.app.state.db.read() as session:
            body = list_collection(request, session, coll, context(request))
        return respond(body)

    return index
