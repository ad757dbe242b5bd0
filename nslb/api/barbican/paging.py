"""List parameters as Barbican reads them: limit/offset (repositories.clean_paging_values:
bad values fall back rather than fail), date filters and sort keys (400 "URI provided
invalid query string parameters." when malformed)."""

from __future__ import annotations

from nslb.api.barbican.faults import BarbicanError, abort
from nslb.api.barbican.validate import parse_time
from nslb.secrets.repo import SECRET_SORT_COLUMNS, DateFilter

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_OFFSET = 2**63 - 1
MAX_TERMS = 10


def bad_query() -> BarbicanError:
    return abort(400, "URI provided invalid query string parameters.")


def paging(offset_arg: str | None, limit_arg: str | None) -> tuple[int, int]:
    try:
        offset = int(offset_arg or 0)
    except ValueError:
        offset = 0
    if offset < 0 or offset > MAX_OFFSET:
        offset = 0
    try:
        limit = int(limit_arg or DEFAULT_LIMIT)
    except ValueError:
        limit = DEFAULT_LIMIT
    return offset, min(max(limit, 1), MAX_LIMIT)


def date_filters(text: str | None) -> list[DateFilter]:
    """`gt:`, `gte:`, `lt:`, `lte:` or bare (equal) ISO 8601 times, comma separated; at
    most one lower bound, one upper bound, and no equality beside a closed bound."""
    if not text:
        return []
    terms = text.split(",")
    if len(terms) > MAX_TERMS:
        raise bad_query()
    out: list[DateFilter] = []
    seen: set[str] = set()
    conflicts = {"gt": {"gt", "gte"}, "gte": {"gt", "gte", "eq"}, "lt": {"lt", "lte"},
                 "lte": {"lt", "lte", "eq"}, "eq": {"eq", "gte", "lte"}}
    for term in terms:
        op, _, value = term.partition(":")
        if op not in ("gt", "gte", "lt", "lte"):
            op, value = "eq", term
        if seen & conflicts[op]:
            raise bad_query()
        try:
            out.append((op, parse_time(value)))
        except ValueError:
            raise bad_query() from None
        seen.add(op)
    return out


def sort_keys(text: str | None) -> list[tuple[str, str]]:
    """`key[:asc|desc]`, comma separated, each key once."""
    if not text:
        return []
    out: list[tuple[str, str]] = []
    for item in text.split(","):
        key, _, direction = item.partition(":")
        direction = direction or "asc"
        if (key not in SECRET_SORT_COLUMNS or direction not in ("asc", "desc")
                or ":" in direction or key in dict(out)):
            raise bad_query()
        out.append((key, direction))
    return out
