"""What the operator offers for load balancer create, in Octavia's two pairs of resources
that work alike: flavors with flavor profiles, availability zones with availability zone
profiles. Octavia writes the four controllers separately; their rules are the same with
other names, so they are written once here and each resource module configures them.

A *profile* (admin only) says what an offering means to its provider: a JSON string in
`<data_field>`, checked by the resource's `check` on create and whenever the provider or
the data changes; a profile an offering uses keeps its provider and data (409) and cannot
be deleted (409).

An *offering* (read by everyone, written by admins) names a profile, fixed at create
(400 `Validation failure: Invalid <profile_field>.` when there is none); its name is
unique (409); one a load balancer uses cannot be deleted (409).

Locks (nslb/db/flavors.py): an offering create holds its profile shared, a profile update
or delete takes it exclusively; an offering delete takes the offering exclusively, as a
load balancer create holds it shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import StringConstraints, create_model
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api import listing
from nslb.api.faults import BadRequest, Conflict, NotFound, ValidationFailure
from nslb.api.http import base_url, parse, read_root, respond, shown
from nslb.api.octavia.common import apply_changes, db
from nslb.api.octavia.schemas import Body, Name
from nslb.db.query import QueryError, run_list, short

ProfileData = Annotated[str, StringConstraints(max_length=4096)]
View = Callable[[Any], dict[str, Any]]


def list_global(request: Request, cls: type, collection: str, links_key: str,
                render: View, key: str = "id") -> Response:
    """Filter, sort, paginate and wrap a collection that belongs to no project (offerings
    and profiles): the same parameters as every Octavia list, no project scope."""
    q = listing.parse_list(request)
    with db(request).read() as session:
        try:
            rows = run_list(session, cls, q)
        except QueryError as exc:
            raise BadRequest(str(exc)) from None
        items = [render(row) for row in rows]
    fields = listing.fields_of(request)
    return respond({
        collection: [listing.select_fields(item, fields) for item in items],
        links_key: listing.page_links(request, q, [{"id": i[key]} for i in items],
                                      base_url(request)),
    })


@dataclass(frozen=True)
class Collection:
    """Where a resource lives and how its JSON is wrapped."""

    model: type
    base: str  # "/lbaas/flavors"
    root: str  # "flavor"
    collection: str  # "flavors"
    links: str  # "flavors_links"
    view: View


# --- profiles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileRules:
    """What differs between flavor profiles and availability zone profiles."""

    data_field: str  # "flavor_data"
    label: str  # "Flavor Profile": the 404 of show and update
    busy_label: str  # "Flavor profile": the 404 of delete and the 409s
    get: Callable[..., Any]  # (session, ident, *, lock) -> profile | None
    in_use: Callable[[Session, str], bool]
    check: Callable[[Session, str, str], dict[str, Any]]  # (session, provider, data)


class Profiles:
    """The five handlers of a profile resource, configured by its ProfileRules."""

    def __init__(self, where: Collection, rules: ProfileRules) -> None:
        self.where, self.rules = where, rules
        create: dict[str, Any] = {"name": (Name, ...), "provider_name": (Name, ...),
                                  rules.data_field: (ProfileData, ...)}
        update: dict[str, Any] = {key: (kind | None, None) for key, (kind, _) in create.items()}
        name = where.model.__name__
        self.create_schema = create_model(f"{name}Create", __base__=Body, **create)
        self.update_schema = create_model(f"{name}Update", __base__=Body, **update)
        self.required = ("name", "provider_name", rules.data_field)

    def _find(self, session: Session, ident: str, label: str, *, lock: bool = False) -> Any:
        profile = self.rules.get(session, ident, lock=lock)
        if profile is None:
            raise NotFound(f"{label} {short(ident)} not found.")
        return profile

    def _in_use(self, profile_id: str) -> Conflict:
        return Conflict(f"{self.rules.busy_label} {profile_id} is in use and cannot be "
                        "modified.")

    async def list_all(self, request: Request) -> Response:
        w = self.where
        return list_global(request, w.model, w.collection, w.links, w.view)

    async def show(self, request: Request) -> Response:
        with db(request).read() as session:
            item = self.where.view(self._find(session, request.path_params["id"],
                                              self.rules.label))
        return respond({self.where.root: listing.select_fields(item,
                                                               listing.fields_of(request))})

    async def create(self, request: Request) -> Response:
        root, field = self.where.root, self.rules.data_field
        data = parse(self.create_schema, await read_root(request, root), root)
        values = data.model_dump()
        profile = self.where.model(**values)
        with db(request).write() as session:
            self.rules.check(session, values["provider_name"], values[field])
            session.add(profile)
        return respond({root: self.where.view(profile)}, 201)

    async def update(self, request: Request) -> Response:
        root, field = self.where.root, self.rules.data_field
        data = parse(self.update_schema, await read_root(request, root), root)
        changes = data.model_dump(exclude_unset=True)
        for key in self.required:
            if key in changes and changes[key] is None:
                raise BadRequest(f"None is not a valid option for {key}")
        with db(request).write() as session:
            # Exclusive lock: an offering being created from this profile holds a shared one.
            profile = self._find(session, request.path_params["id"], self.rules.label,
                                 lock=True)
            meaning = {k: changes[k] for k in ("provider_name", field) if k in changes}
            if meaning and self.rules.in_use(session, profile.id):
                raise self._in_use(profile.id)
            if meaning:
                self.rules.check(session, meaning.get("provider_name", profile.provider_name),
                                 meaning.get(field, getattr(profile, field)))
            for key, value in changes.items():
                setattr(profile, key, value)
        return respond({root: self.where.view(profile)})

    async def delete(self, request: Request) -> Response:
        with db(request).write() as session:
            profile = self._find(session, request.path_params["id"], self.rules.busy_label,
                                 lock=True)
            if self.rules.in_use(session, profile.id):
                raise self._in_use(profile.id)
            session.delete(profile)
        return respond(None, 204)

    def routes(self) -> list[Route]:
        return _routes(self.where.base, "id", self)


# --- offerings ----------------------------------------------------------------------------


class OfferingCreate(Body):
    """What every offering's create takes; each adds its profile id field."""

    name: Name
    description: Name | None = None
    enabled: bool = True


class OfferingUpdate(Body):
    """What every offering's update may change (flavors add their name)."""

    description: Name | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class OfferingRules:
    """What differs between flavors and availability zones."""

    key: str  # "id" or "name": the path parameter, the page marker, the 409's subject
    label: str  # "Flavor": 404 `Flavor <id> not found.`, 409 `Flavor <id> is in use ...`
    noun: str  # "flavor": 409 `A flavor of <name> already exists.`
    profile_field: str  # "flavor_profile_id"
    get: Callable[..., Any]  # (session, key, *, lock=False, shared=False) -> row | None
    profile: Callable[..., Any]  # (session, ident, *, shared) -> profile | None
    name_taken: Callable[[Session, str, str | None], bool]  # (session, name, but)
    in_use: Callable[[Session, str], bool]  # a load balancer uses it
    create_schema: type[Body]
    update_schema: type[Body]


class Offerings:
    """The five handlers of an offering resource, configured by its OfferingRules."""

    def __init__(self, where: Collection, rules: OfferingRules) -> None:
        self.where, self.rules = where, rules

    def find(self, session: Session, key: str, *, lock: bool = False) -> Any:
        found = self.rules.get(session, key, lock=lock)
        if found is None:
            raise NotFound(f"{self.rules.label} {short(key)} not found.")
        return found

    def _duplicate(self, name: str) -> Conflict:
        return Conflict(f"A {self.rules.noun} of {shown(name)} already exists.")

    async def list_all(self, request: Request) -> Response:
        w = self.where
        return list_global(request, w.model, w.collection, w.links, w.view, key=self.rules.key)

    async def show(self, request: Request) -> Response:
        with db(request).read() as session:
            item = self.where.view(self.find(session, request.path_params[self.rules.key]))
        return respond({self.where.root: listing.select_fields(item,
                                                               listing.fields_of(request))})

    async def create(self, request: Request) -> Response:
        root, field = self.where.root, self.rules.profile_field
        values = parse(self.rules.create_schema, await read_root(request, root),
                       root).model_dump()
        wanted = values.pop(field)
        row = self.where.model(**{**values, "description": values.get("description") or ""})
        try:
            with db(request).write() as session:
                # Shared lock: a concurrent delete of the profile waits for this row.
                profile = self.rules.profile(session, wanted, shared=True)
                if profile is None:
                    raise ValidationFailure(f"Invalid {field}.")
                if self.rules.name_taken(session, row.name, None):
                    raise self._duplicate(row.name)
                setattr(row, field, profile.id)
                session.add(row)
        except IntegrityError:  # a concurrent create took the name
            raise self._duplicate(row.name) from None
        return respond({root: self.where.view(row)}, 201)

    async def update(self, request: Request) -> Response:
        root = self.where.root
        changes = parse(self.rules.update_schema, await read_root(request, root),
                        root).model_dump(exclude_unset=True)
        name = changes.get("name") or ""
        try:
            with db(request).write() as session:
                row = self.find(session, request.path_params[self.rules.key], lock=True)
                if "name" in changes and self.rules.name_taken(session, name,
                                                               getattr(row, self.rules.key)):
                    raise self._duplicate(name)
                apply_changes(row, changes)
        except IntegrityError:
            raise self._duplicate(name) from None
        return respond({root: self.where.view(row)})

    async def delete(self, request: Request) -> Response:
        with db(request).write() as session:
            self.remove(session, request.path_params[self.rules.key])
        return respond(None, 204)

    def remove(self, session: Session, key: str) -> None:
        """Delete the row unless a load balancer uses it (Octavia's 409). The exclusive
        lock comes first: a load balancer create that read the row holds a shared lock, so
        the count below sees that load balancer once its create has committed."""
        row = self.find(session, key, lock=True)
        subject = getattr(row, self.rules.key)
        if self.rules.in_use(session, subject):
            raise Conflict(f"{self.rules.label} {subject} is in use and cannot be modified.")
        session.delete(row)

    def chosen(self, session: Session, key: str, invalid: str,
               selected: str) -> tuple[Any, Any]:
        """(row, profile) a load balancer create names, after Octavia's checks: it
        exists (400 `Validation failure: <invalid>`) and is enabled (400 `The selected
        <selected> is not allowed ...`). Run inside the create's write transaction: the
        shared row lock keeps the row from being deleted before the LB row commits."""
        row = self.rules.get(session, key, shared=True)
        if row is None:
            raise ValidationFailure(invalid)
        if not row.enabled:
            raise BadRequest(f"The selected {selected} is not allowed in this deployment: "
                             f"{short(key)}")
        profile = self.rules.profile(session, getattr(row, self.rules.profile_field))
        if profile is None:  # the foreign key makes this impossible; never build half a choice
            raise ValidationFailure(invalid)
        return row, profile

    def routes(self) -> list[Route]:
        return _routes(self.where.base, self.rules.key, self)


def _routes(base: str, key: str, handlers: Profiles | Offerings) -> list[Route]:
    one = f"{base}/{{{key}}}"
    return [
        Route(base, handlers.list_all, methods=["GET"]),
        Route(base, handlers.create, methods=["POST"]),
        Route(one, handlers.show, methods=["GET"]),
        Route(one, handlers.update, methods=["PUT"]),
        Route(one, handlers.delete, methods=["DELETE"]),
    ]
