"""One list query for every collection: filters, tag filters, sorting and keyset pagination.

Pagination follows Octavia: the marker is the id of the last row of the previous page and
rows after it in the sort order are returned; ties are broken by the default keys
(created_at, id, or the primary key of a table without them). NULLs compare as an empty
value so that the order is total.

The marker row is looked up through the very statement that lists the page (the caller's
scope, visibility and filters included), so a marker the caller cannot list answers exactly
like one that does not exist: another project's id is neither an existence oracle nor, with
`sort=`, a value oracle (probe 2026-12-03, F9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    Select,
    Text,
    and_,
    asc,
    case,
    desc,
    not_,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from nslb.db import page_reads
from nslb.db.tables import table_of
from nslb.db.types import JSONText, tag_pattern

DEFAULT_SORT = (("created_at", "asc"), ("id", "asc"))
_EPOCH = datetime(1970, 1, 1)
# Integer filters beyond 64 bits overflow SQLite's binding (a 500, probe F11).
_INT_RANGE = (-(2**63), 2**63 - 1)


class QueryError(ValueError):
    """A filter, sort key or marker the collection cannot honour (an HTTP 400)."""


class MarkerNotFound(QueryError):
    """The marker is not a row the caller could list (missing, or not the caller's)."""

    def __init__(self, marker: str) -> None:
        super().__init__(f"Supplied pagination marker '{short(marker)}' is not valid.")
        self.marker = marker


def short(value: object, limit: int = 64) -> str:
    """A user's value quoted back in a message, cut so a huge input is never echoed."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    not_tags_any: list[str] = field(default_factory=list)
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


def columns_of(cls: type) -> set[str]:
    return set(table_of(cls).c.keys())


def run_list(session: Session, cls: type, q: ListQuery, *, scope: dict[str, Any] | None = None,
             where: Sequence[ColumnElement[bool]] = (),
             exclude_status: str | None = None, plain: bool = False) -> list[Any]:
    """Rows of `cls` matching `q`, in page order. `scope` adds fixed equality filters and
    `where` further conditions (e.g. Neutron's visibility); both also bound the marker.

    `plain`: the rows as read-only records with the mapped attributes (the table's
    columns) instead of ORM objects, for renderers that only read attributes. Loading
    1,000 ORM objects (instrumented attributes, identity map) took most of a 1,000-LB
    list; plain rows cost a tenth of it (db/page_reads.py)."""
    table = table_of(cls)
    stmt: Select[Any] = select(*table.c) if plain else select(cls)
    stmt = _apply_filters(stmt, table, q.filters)
    for key, value in (scope or {}).items():
        stmt = stmt.where(table.c[key] == value)
    for clause in where:
        stmt = stmt.where(clause)
    if exclude_status and "provisioning_status" in table.c:
        stmt = stmt.where(table.c.provisioning_status != exclude_status)
    stmt = _apply_tags(stmt, table, q)
    sort = _complete_sort(table, q.sort)
    if q.marker is not None:
        stmt = stmt.where(_after_marker(session, stmt, table, sort, q.marker, q.page_reverse))
    direction = {"asc": asc, "desc": desc}
    flip = {"asc": desc, "desc": asc}
    for key, d in sort:
        order = (flip if q.page_reverse else direction)[d]
        stmt = stmt.order_by(order(_sortable(table.c[key])))
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    rows = page_reads.records(session, stmt, table) if plain else list(session.scalars(stmt))
    if q.page_reverse:
        rows.reverse()
    return rows


def _convert(column: Any, raw: str) -> Any:
    kind = column.type
    try:
        if isinstance(kind, Boolean):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if isinstance(kind, Integer):
            value = int(raw)
            if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
                raise ValueError(raw)
            return value
        if isinstance(kind, Float):
            return float(raw)
        if isinstance(kind, DateTime):
            return _naive_utc(datetime.fromisoformat(raw.removesuffix("Z")))
    except ValueError:
        raise QueryError(f"Invalid filter value '{short(raw)}' for {column.key}") from None
    return raw


def _naive_utc(value: datetime) -> datetime:
    """Timestamps are stored as naive UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _apply_filters(stmt: Select[Any], table: Any, filters: dict[str, list[str]]) -> Select[Any]:
    for key, values in filters.items():
        if key not in table.c or isinstance(table.c[key].type, JSONText):
            raise QueryError("One or more arguments are either duplicate or invalid.")
        column = table.c[key]
        converted = [_convert(column, v) for v in values]
        stmt = stmt.where(column == converted[0] if len(converted) == 1
                          else column.in_(converted))
    return stmt


def _has_tag(table: Any, tag: str) -> ColumnElement[bool]:
    # Compare the stored text: on the JSONText column itself the pattern would be bound
    # through JSONText and JSON-encoded a second time, and never match.
    return type_coerce(table.c.tags, Text).like(tag_pattern(tag), escape="\\")


def _apply_tags(stmt: Select[Any], table: Any, q: ListQuery) -> Select[Any]:
    if not (q.tags or q.tags_any or q.not_tags or q.not_tags_any):
        return stmt
    if "tags" not in table.c:
        raise QueryError("One or more arguments are either duplicate or invalid.")
    if q.tags:
        stmt = stmt.where(and_(*[_has_tag(table, t) for t in q.tags]))
    if q.tags_any:
        stmt = stmt.where(or_(*[_has_tag(table, t) for t in q.tags_any]))
    if q.not_tags:
        stmt = stmt.where(not_(and_(*[_has_tag(table, t) for t in q.not_tags])))
    if q.not_tags_any:
        stmt = stmt.where(not_(or_(*[_has_tag(table, t) for t in q.not_tags_any])))
    return stmt


def _complete_sort(table: Any, sort: list[tuple[str, str]]) -> list[tuple[str, str]]:
    full = []
    for key, d in sort:
        if key not in table.c or isinstance(table.c[key].type, JSONText):
            raise QueryError(f"Supplied sort key '{short(key)}' is not valid.")
        full.append((key, d))
    keys = {k for k, _ in full}
    default_dir = full[0][1] if full else "asc"
    tie_breakers = [k for k, _ in DEFAULT_SORT if k in table.c] or \
        [c.key for c in table.primary_key.columns]
    for key in tie_breakers:
        if key not in keys:
            full.append((key, default_dir))
    return full


def _marker_key(table: Any) -> Any:
    """The column a marker names: `id`, or the primary key (quotas: project_id)."""
    if "id" in table.c:
        return table.c.id
    [key] = table.primary_key.columns
    return key


def _null_value(column: Any) -> Any:
    kind = column.type
    if isinstance(kind, DateTime):
        return _EPOCH
    if isinstance(kind, Integer | Float):
        return 0
    if isinstance(kind, Boolean):
        return False
    return ""


def _sortable(column: Any) -> Any:
    if column.nullable:
        return case((column.is_(None), _null_value(column)), else_=column)
    return column


def _after_marker(session: Session, listed: Select[Any], table: Any,
                  sort: list[tuple[str, str]], marker: str,
                  reverse: bool) -> ColumnElement[bool]:
    """Rows after the marker in the sort order. The marker row is read through `listed`,
    the page's own statement, so it must be a row the caller could list."""
    columns = [table.c[k] for k, _ in sort]
    lookup = listed.with_only_columns(*columns).where(_marker_key(table) == marker)
    row = session.execute(lookup).first()
    if row is None:
        raise MarkerNotFound(marker)
    values = [v if v is not None else _null_value(table.c[k])
              for v, (k, _) in zip(row, sort, strict=True)]
    criteria = []
    for i, (key, d) in enumerate(sort):
        equal = [_sortable(table.c[k]) == values[j] for j, (k, _) in enumerate(sort[:i])]
        column = _sortable(table.c[key])
        forward = (d == "asc") != reverse
        equal.append(column > values[i] if forward else column < values[i])
        criteria.append(and_(*equal))
    return or_(*criteria)
