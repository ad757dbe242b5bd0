"""The Nova v2.1 subset the stock `openstack` CLI needs to manage placement: os-services,
os-hypervisors, os-aggregates, os-availability-zone, flavors with os-extra_specs.

Admin-only as Nova's default policy (flavor and zone reads too: nslb's compute flavors
exist for the amphorae alone). Errors take Nova's shape, `{"itemNotFound": {"code": 404,
"message": ...}}`; every other compute path answers 501 in that shape.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from nslb.api import jsonbody
from nslb.api.compute import microversion
from nslb.api.compute.microversion import at_least
from nslb.api.faults import ApiError, BadRequest, Conflict, Forbidden, NotFound
from nslb.api.http import base_url, context, respond, shown
from nslb.db import compute, hosts
from nslb.db.tables import compute_aggregate, compute_aggregate_host, compute_flavor
from nslb.model.resources import utcnow

PREFIX = "/compute"
VERSION = {"id": "v2.1", "status": "CURRENT", **microversion.document(),
           "updated": "2013-07-23T11:33:21Z"}
DEFAULT_ZONE = "nova"
# Names, keys and values: printable ASCII, no surrounding blanks (they reach no file; the
# scheduler compares them as strings).
TEXT = re.compile(r"[!-~](?:[ -~]{0,253}[!-~])?")


class NotImplementedCompute(ApiError):
    status = 501


def _admin(request: Request) -> None:
    if "admin" not in context(request).roles:  # Nova: the admin role itself
        raise Forbidden("Policy doesn't allow this action to be performed.")


async def _body(request: Request, root: str) -> dict[str, Any]:
    try:
        data = jsonbody.loads(await request.body())
    except ApiError:
        raise BadRequest("Malformed request body") from None
    if not isinstance(data, dict) or not isinstance(data.get(root), dict):
        raise BadRequest(f"Invalid input for field/attribute {root}.")
    found: dict[str, Any] = data[root]
    return found


def _name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not TEXT.fullmatch(value):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}.")
    return value


# --- versions ------------------------------------------------------------------------------

async def version(request: Request) -> Response:
    href = f"{base_url(request)}{PREFIX}/v2.1/"
    return respond({"version": {**VERSION, "links": [{"rel": "self", "href": href}]}})


async def versions(request: Request) -> Response:
    href = f"{base_url(request)}{PREFIX}/v2.1/"
    return respond({"versions": [{**VERSION, "links": [{"rel": "self", "href": href}]}]})


# --- services and hypervisors ----------------------------------------------------------------

def _zones(session: Any) -> dict[str, str | None]:
    return {name: zone for name, (zone, _) in compute.host_placement(session).items()}


async def services(request: Request) -> Response:
    _admin(request)
    with request.app.state.db.read() as session:
        rows, zones = hosts.all_hosts(session, count=False), _zones(session)
    return respond({"services": [{
        "id": h.id, "binary": "nslb-agent", "host": h.name,
        "zone": zones.get(h.name) or DEFAULT_ZONE, "status": "enabled",
        "state": "up" if h.state == hosts.UP else "down",
        "updated_at": _iso(h.updated_at or h.created_at), "disabled_reason": None,
        "forced_down": False} for h in rows]})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _hypervisor(h: hosts.Host, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": h.id, "hypervisor_hostname": h.name,
                           "state": "up" if h.state == hosts.UP else "down",
                           "status": "enabled"}
    if detail:
        out.update({"hypervisor_type": "nslb-netns", "hypervisor_version": 1,
                    "host_ip": h.address, "vcpus": h.cpu_count, "memory_mb": h.memory_mb,
                    "running_vms": h.amphorae, "max_amphorae": h.max_amphorae,
                    "service": {"host": h.name, "id": h.id, "disabled_reason": None}})
    return out


async def hypervisors(request: Request) -> Response:
    """2.53: `hypervisor_hostname_pattern` filters by a part of the name (Nova's LIKE
    %pattern%); matching nothing is a 404."""
    _admin(request)
    detail = request.url.path.endswith("/detail")
    pattern = request.query_params.get("hypervisor_hostname_pattern")
    with request.app.state.db.read() as session:
        rows = hosts.all_hosts(session, count=detail)
    if pattern is not None:
        rows = [h for h in rows if pattern in h.name]
        if not rows:
            raise NotFound(f"No hypervisor matching '{shown(pattern)}' could be found.")
    return respond({"hypervisors": [_hypervisor(h, detail) for h in rows]})


async def hypervisor(request: Request) -> Response:
    """2.53: the id is the host's UUID, anything else a 400 (the SDK's find then lists
    by name, so `openstack hypervisor show NAME` works)."""
    _admin(request)
    ident = request.path_params["id"]
    try:
        uuid.UUID(ident)
    except ValueError:
        raise BadRequest(f"Invalid uuid {shown(ident)}") from None
    with request.app.state.db.read() as session:
        found = hosts.get(session, ident, count=True)
    if found is None:
        raise NotFound(f"Hypervisor with ID '{ident}' could not be found.")
    return respond({"hypervisor": _hypervisor(found, True)})


# --- aggregates -----------------------------------------------------------------------------

def _aggregate_view(a: compute.Aggregate) -> dict[str, Any]:
    meta = dict(a.meta)
    if a.availability_zone:
        meta["availability_zone"] = a.availability_zone
    return {"id": a.id, "uuid": a.uuid, "name": a.name,
            "availability_zone": a.availability_zone, "hosts": list(a.hosts),
            "metadata": meta, "created_at": _iso(a.created_at),
            "updated_at": _iso(a.updated_at), "deleted_at": None, "deleted": False}


def _aggregate_id(request: Request) -> int:
    raw = request.path_params["id"]
    if not raw.isdigit():
        raise NotFound(f"Aggregate {raw} could not be found.")
    return int(raw)


def _get_aggregate(session: Any, ident: int) -> compute.Aggregate:
    found = compute.aggregate(session, ident)
    if found is None:
        raise NotFound(f"Aggregate {ident} could not be found.")
    return found


async def aggregates(request: Request) -> Response:
    _admin(request)
    with request.app.state.db.read() as session:
        items = compute.aggregates(session)
    return respond({"aggregates": [_aggregate_view(a) for a in items]})


async def aggregate_show(request: Request) -> Response:
    _admin(request)
    with request.app.state.db.read() as session:
        found = _get_aggregate(session, _aggregate_id(request))
    return respond({"aggregate": _aggregate_view(found)})


async def aggregate_create(request: Request) -> Response:
    _admin(request)
    body = await _body(request, "aggregate")
    name = _name(body.get("name"))
    zone = body.get("availability_zone")
    if zone is not None:
        zone = _name(zone, "availability_zone")
    try:
        with request.app.state.db.write() as session:
            taken = session.scalar(select(func.count()).select_from(compute_aggregate).where(
                compute_aggregate.c.name == name))
            if taken:
                raise Conflict(f"Aggregate {name} already exists.")
            new_id = session.execute(insert(compute_aggregate).values(
                uuid=str(uuid.uuid4()), name=name, availability_zone=zone, meta={},
                created_at=utcnow())).inserted_primary_key[0]
            found = _get_aggregate(session, int(new_id))
    except IntegrityError:
        raise Conflict(f"Aggregate {name} already exists.") from None
    return respond({"aggregate": _aggregate_view(found)})


async def aggregate_update(request: Request) -> Response:
    _admin(request)
    body = await _body(request, "aggregate")
    values: dict[str, Any] = {}
    if "name" in body:
        values["name"] = _name(body["name"])
    if "availability_zone" in body:
        values["availability_zone"] = (_name(body["availability_zone"], "availability_zone")
                                       if body["availability_zone"] is not None else None)
    return _change_aggregate(request, values)


def _change_aggregate(request: Request, values: dict[str, Any]) -> Response:
    ident = _aggregate_id(request)
    with request.app.state.db.write() as session:
        _get_aggregate(session, ident)
        session.execute(update(compute_aggregate).where(compute_aggregate.c.id == ident)
                        .values(**values, updated_at=utcnow()))
        found = _get_aggregate(session, ident)
    return respond({"aggregate": _aggregate_view(found)})


async def aggregate_delete(request: Request) -> Response:
    _admin(request)
    ident = _aggregate_id(request)
    with request.app.state.db.write() as session:
        found = _get_aggregate(session, ident)
        if found.hosts:
            raise BadRequest(f"Cannot remove host from aggregate {ident}. Reason: Host "
                             "aggregate is not empty.")
        session.execute(delete(compute_aggregate).where(compute_aggregate.c.id == ident))
    return respond(None, 200)


async def aggregate_action(request: Request) -> Response:
    """add_host, remove_host, set_metadata (Nova's POST /os-aggregates/{id}/action)."""
    _admin(request)
    ident = _aggregate_id(request)
    try:
        data = jsonbody.loads(await request.body())
    except ApiError:
        raise BadRequest("Malformed request body") from None
    if not isinstance(data, dict) or len(data) != 1:
        raise BadRequest("Invalid input for field/attribute action.")
    [(action, args)] = data.items()
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid input for field/attribute {action}.")
    with request.app.state.db.write() as session:
        found = _get_aggregate(session, ident)
        if action in ("add_host", "remove_host"):
            _hosts_action(session, found, action, _name(args.get("host"), "host"))
        elif action == "set_metadata":
            _set_metadata(session, found, args.get("metadata"))
        else:
            raise BadRequest(f"Invalid input for field/attribute {action}.")
        found = _get_aggregate(session, ident)
    return respond({"aggregate": _aggregate_view(found)})


def _hosts_action(session: Any, agg: compute.Aggregate, action: str, name: str) -> None:
    if name not in {h.name for h in hosts.all_hosts(session, count=False)}:
        raise NotFound(f"Compute host {name} could not be found.")
    if action == "add_host":
        if name in agg.hosts:
            raise Conflict(f"Aggregate {agg.id} already has host {name}.")
        session.execute(insert(compute_aggregate_host).values(aggregate_id=agg.id, host=name))
    else:
        if name not in agg.hosts:
            raise NotFound(f"Cannot remove host {name} in aggregate {agg.id}")
        session.execute(delete(compute_aggregate_host).where(
            compute_aggregate_host.c.aggregate_id == agg.id,
            compute_aggregate_host.c.host == name))


def _set_metadata(session: Any, agg: compute.Aggregate, metadata: Any) -> None:
    """Nova's set_metadata: a key set to null is removed; `availability_zone` is the
    aggregate's zone."""
    if not isinstance(metadata, dict):
        raise BadRequest("Invalid input for field/attribute metadata.")
    meta, zone = dict(agg.meta), agg.availability_zone
    for key, value in metadata.items():
        _name(key, "metadata key")
        if value is not None:
            value = _name(str(value), "metadata value")
        if key == "availability_zone":
            zone = value
        elif value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    session.execute(update(compute_aggregate).where(compute_aggregate.c.id == agg.id).values(
        meta=meta, availability_zone=zone, updated_at=utcnow()))


# --- availability zones ----------------------------------------------------------------------

async def zones(request: Request) -> Response:
    _admin(request)
    detail = request.url.path.endswith("/detail")
    with request.app.state.db.read() as session:
        placed = _zones(session)
        rows = hosts.all_hosts(session, count=False)
    by_zone: dict[str, list[hosts.Host]] = {}
    for h in rows:
        by_zone.setdefault(placed.get(h.name) or DEFAULT_ZONE, []).append(h)
    out = []
    for zone, members in sorted(by_zone.items()):
        item: dict[str, Any] = {"zoneName": zone, "zoneState": {
            "available": any(h.state == hosts.UP for h in members)}, "hosts": None}
        if detail:
            item["hosts"] = {h.name: {"nslb-agent": {
                "available": h.state == hosts.UP, "active": True,
                "updated_at": _iso(h.updated_at or h.created_at)}} for h in members}
        out.append(item)
    return respond({"availabilityZoneInfo": out})


# --- flavors --------------------------------------------------------------------------------

def _flavor_view(request: Request, f: compute.Flavor, detail: bool = True) -> dict[str, Any]:
    """Nova's flavors view builder: `description` from 2.55 (the list too), `extra_specs`
    from 2.61 (not in the list), `swap` 0 instead of "" from 2.75."""
    href = f"{base_url(request)}{PREFIX}/v2.1/flavors/{f.id}"
    out: dict[str, Any] = {"id": f.id, "name": f.name, "links": [{"rel": "self", "href": href}]}
    if detail:
        out.update({"ram": f.ram, "vcpus": f.vcpus, "disk": f.disk,
                    "swap": 0 if at_least(request, "2.75") else "",
                    "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False,
                    "os-flavor-access:is_public": f.is_public, "rxtx_factor": 1.0})
        if at_least(request, "2.61"):
            out["extra_specs"] = dict(f.extra_specs)
    if at_least(request, "2.55"):
        out["description"] = f.description
    return out


def _get_flavor(session: Any, ident: str, *, lock: bool = False) -> compute.Flavor:
    found = compute.flavor(session, ident, lock=lock)
    if found is None:
        raise NotFound(f"Flavor {ident} could not be found.")
    return found


async def flavors(request: Request) -> Response:
    _admin(request)
    detail = request.url.path.endswith("/detail")
    with request.app.state.db.read() as session:
        items = compute.flavors(session)
    return respond({"flavors": [_flavor_view(request, f, detail) for f in items]})


async def flavor_show(request: Request) -> Response:
    _admin(request)
    with request.app.state.db.read() as session:
        found = _get_flavor(session, request.path_params["id"])
    return respond({"flavor": _flavor_view(request, found)})


def _count(body: dict[str, Any], key: str, minimum: int) -> int:
    value = body.get(key, 0 if key == "disk" else None)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value < 2**31:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}.")
    return value


async def flavor_create(request: Request) -> Response:
    _admin(request)
    body = await _body(request, "flavor")
    name = _name(body.get("name"))
    ident = body.get("id") or str(uuid.uuid4())
    ident = _name(str(ident), "id")
    values: dict[str, Any] = {"id": ident, "name": name, "ram": _count(body, "ram", 1),
              "vcpus": _count(body, "vcpus", 1), "disk": _count(body, "disk", 0),
              "is_public": bool(body.get("os-flavor-access:is_public", True)),
              "description": _description(request, body), "extra_specs": {},
              "created_at": utcnow()}
    try:
        with request.app.state.db.write() as session:
            if compute.flavor(session, ident) is not None:
                raise Conflict(f"Flavor with ID {ident} already exists.")
            taken = session.scalar(select(func.count()).select_from(compute_flavor).where(
                compute_flavor.c.name == name))
            if taken:
                raise Conflict(f"Flavor with name {name} already exists.")
            session.execute(insert(compute_flavor).values(**values))
            found = _get_flavor(session, ident)
    except IntegrityError:
        raise Conflict(f"Flavor with name {name} already exists.") from None
    return respond({"flavor": _flavor_view(request, found)})


DESCRIPTION = re.compile(r"[^\x00-\x1f\x7f]{0,65535}")


def _description(request: Request, body: dict[str, Any]) -> str | None:
    """A flavor's description: from 2.55 (before, Nova's schema refuses the key), up to
    65535 printable characters, or null."""
    if "description" not in body:
        return None
    if not at_least(request, "2.55"):
        raise BadRequest("Invalid input for field/attribute flavor. Additional properties "
                         "are not allowed ('description' was unexpected)")
    value = body["description"]
    if value is not None and (not isinstance(value, str) or not DESCRIPTION.fullmatch(value)):
        raise BadRequest(f"Invalid input for field/attribute description. Value: "
                         f"{shown(value)}.")
    return value if value is None else str(value)


async def flavor_update(request: Request) -> Response:
    """PUT /flavors/{id} (2.55): the description is the only thing that changes."""
    _admin(request)
    if not at_least(request, "2.55"):
        raise NotFound("The resource could not be found.")
    body = await _body(request, "flavor")
    if set(body) != {"description"}:
        raise BadRequest("Invalid input for field/attribute flavor. Value: "
                         f"{shown(body)}. 'description' is a required property")
    description = _description(request, body)
    with request.app.state.db.write() as session:
        found = _get_flavor(session, request.path_params["id"], lock=True)
        session.execute(update(compute_flavor).where(compute_flavor.c.id == found.id)
                        .values(description=description))
        found = _get_flavor(session, found.id)
    return respond({"flavor": _flavor_view(request, found)})


async def flavor_delete(request: Request) -> Response:
    _admin(request)
    with request.app.state.db.write() as session:
        remove_flavor(session, request.path_params["id"])
    return respond(None, 202)


def remove_flavor(session: Any, ident: str) -> None:
    """Delete the compute flavor unless an Octavia flavor profile names it. The exclusive
    row lock comes first: a profile create or update that checked the flavor holds it
    shared (api/octavia/flavorprofiles.checked), so the search below sees that profile
    once it has committed."""
    found = _get_flavor(session, ident, lock=True)
    _not_named(session, found.id)
    session.execute(delete(compute_flavor).where(compute_flavor.c.id == found.id))


def _not_named(session: Any, flavor_id: str) -> None:
    """An Octavia flavor profile naming the flavor (its `compute_flavor`) keeps it: load
    balancers built from that profile would place their amphorae against nothing."""
    naming = compute.profiles_naming(session, flavor_id)
    if naming:
        names = ", ".join(f"{name} ({ident})" for ident, name in naming)
        raise Conflict(f"Flavor {flavor_id} is in use by Octavia flavor profile(s) {names} "
                       "as their compute_flavor and cannot be deleted.")


async def extra_specs(request: Request) -> Response:
    _admin(request)
    with request.app.state.db.read() as session:
        found = _get_flavor(session, request.path_params["id"])
    key = request.path_params.get("key")
    if key is None:
        return respond({"extra_specs": dict(found.extra_specs)})
    if key not in found.extra_specs:
        raise NotFound(f"Flavor {found.id} has no extra specs with key {key}.")
    return respond({key: found.extra_specs[key]})


async def extra_specs_set(request: Request) -> Response:
    _admin(request)
    body = await _body(request, "extra_specs")
    specs = {_name(k, "extra_specs key"): _name(str(v), "extra_specs value")
             for k, v in body.items()}
    with request.app.state.db.write() as session:
        found = _get_flavor(session, request.path_params["id"])
        session.execute(update(compute_flavor).where(compute_flavor.c.id == found.id)
                        .values(extra_specs={**found.extra_specs, **specs}))
    return respond({"extra_specs": specs})


async def extra_spec_delete(request: Request) -> Response:
    _admin(request)
    key = request.path_params["key"]
    with request.app.state.db.write() as session:
        found = _get_flavor(session, request.path_params["id"])
        if key not in found.extra_specs:
            raise NotFound(f"Flavor {found.id} has no extra specs with key {key}.")
        rest = {k: v for k, v in found.extra_specs.items() if k != key}
        session.execute(update(compute_flavor).where(compute_flavor.c.id == found.id)
                        .values(extra_specs=rest))
    return respond(None, 200)


async def unsupported(request: Request) -> Response:
    raise NotImplementedCompute(f"{request.method} {request.url.path} is not implemented "
                                "by nslb's compute subset.")


def routes() -> list[BaseRoute]:
    v = "/v2.1"
    return [
        Route("/", versions, methods=["GET"]),
        Route(v, version, methods=["GET"]),
        Route(v + "/", version, methods=["GET"]),
        Route(v + "/os-services", services, methods=["GET"]),
        Route(v + "/os-hypervisors", hypervisors, methods=["GET"]),
        Route(v + "/os-hypervisors/detail", hypervisors, methods=["GET"]),
        Route(v + "/os-hypervisors/{id}", hypervisor, methods=["GET"]),
        Route(v + "/os-aggregates", aggregates, methods=["GET"]),
        Route(v + "/os-aggregates", aggregate_create, methods=["POST"]),
        Route(v + "/os-aggregates/{id}", aggregate_show, methods=["GET"]),
        Route(v + "/os-aggregates/{id}", aggregate_update, methods=["PUT"]),
        Route(v + "/os-aggregates/{id}", aggregate_delete, methods=["DELETE"]),
        Route(v + "/os-aggregates/{id}/action", aggregate_action, methods=["POST"]),
        Route(v + "/os-availability-zone", zones, methods=["GET"]),
        Route(v + "/os-availability-zone/detail", zones, methods=["GET"]),
        Route(v + "/flavors", flavors, methods=["GET"]),
        Route(v + "/flavors", flavor_create, methods=["POST"]),
        Route(v + "/flavors/detail", flavors, methods=["GET"]),
        Route(v + "/flavors/{id}", flavor_show, methods=["GET"]),
        Route(v + "/flavors/{id}", flavor_update, methods=["PUT"]),
        Route(v + "/flavors/{id}", flavor_delete, methods=["DELETE"]),
        Route(v + "/flavors/{id}/os-extra_specs", extra_specs, methods=["GET"]),
        Route(v + "/flavors/{id}/os-extra_specs", extra_specs_set, methods=["POST"]),
        Route(v + "/flavors/{id}/os-extra_specs/{key}", extra_specs, methods=["GET"]),
        Route(v + "/flavors/{id}/os-extra_specs/{key}", extra_spec_delete, methods=["DELETE"]),
        Route(v + "/{rest:path}", unsupported,
              methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
