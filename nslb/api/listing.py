"""Parsing of Octavia/Neutron list parameters and building of `*_links`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from nslb.api.faults import BadRequest
from nslb.api.http import shown
from nslb.db.query import ListQuery

MAX_LIMIT = 1000
AUX = {"limit", "marker", "sort", "sort_key", "sort_dir", "fields", "page_reverse",
       "tags", "tags-any", "not-tags", "not-tags-any"}
ALIASES = {"tenant_id": "project_id"}


def _split(values: list[str]) -> list[str]:
    return [part for v in values for part in v.split(",") if part]


def _dir(value: str) -> str:
    d = value.lower()
    if d not in ("asc", "desc"):
        raise BadRequest(f"Supplied sort direction '{shown(value)}' is not valid.")
    return d


def _sort(params: Any) -> list[tuple[str, str]]:
    if params.get("sort"):
        out = []
        for item in _split(params.getlist("sort")):
            key, _, d = item.partition(":")
            out.append((key, _dir(d) if d else "asc"))
        return out
    keys = _split(params.getlist("sort_key"))
    dirs = [_dir(d) for d in _split(params.getlist("sort_dir"))]
    dirs += ["asc"] * (len(keys) - len(dirs))
    return list(zip(keys, dirs, strict=False))


def _limit(raw: str | None) -> int:
    if raw is None:
        return MAX_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Supplied pagination limit '{shown(raw)}' is not valid.") from None
    return MAX_LIMIT if value < 1 else min(value, MAX_LIMIT)


def parse_list(request: Request, ignore: frozenset[str] = frozenset()) -> ListQuery:
    """Turn the query string into a ListQuery; unknown keys become attribute filters."""
    params = request.query_params
    filters: dict[str, list[str]] = {}
    for key in params:
        if key in AUX or key in ignore:
            continue
        filters[ALIASES.get(key, key)] = params.getlist(key)
    return ListQuery(
        filters=filters,
        tags=_split(params.getlist("tags")),
        tags_any=_split(params.getlist("tags-any")),
        not_tags=_split(params.getlist("not-tags")),
        not_tags_any=_split(params.getlist("not-tags-any")),
        sort=_sort(params),
        limit=_limit(params.get("limit")),
        marker=params.get("marker"),
        page_reverse=params.get("page_reverse", "").lower() == "true",
    )


def fields_of(request: Request) -> list[str]:
    return _split(request.query_params.getlist("fields"))


def select_fields(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def page_links(request: Request, q: ListQuery, items: list[dict[str, Any]],
               base_url: str) -> list[dict[str, str]]:
    """Octavia's links: `previous` when a marker was given, `next` when the page is full."""
    if not items:
        return []
    url = base_url.rstrip("/") + request.url.path
    common: list[tuple[str, str]] = [("limit", str(q.limit))]
    for key in ("sort", "sort_key", "sort_dir"):
        if request.query_params.get(key):
            common.append((key, request.query_params[key]))
    links = []
    if q.marker:
        prev = [*common, ("marker", items[0]["id"]), ("page_reverse", "True")]
        links.append({"href": f"{url}?{urlencode(prev)}", "rel": "previous"})
    if q.limit is not None and len(items) >= q.limit:
        nxt = [*common, ("marker", items[-1]["id"])]
        links.append({"href": f"{url}?{urlencode(nxt)}", "rel": "next"})
    return links
