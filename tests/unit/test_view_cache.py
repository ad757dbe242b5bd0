"""The list view cache: a view is reused only for equal inputs, the cache stays within its
bound, and only plain records are cached."""

from __future__ import annotations

from collections import namedtuple
from types import SimpleNamespace
from typing import Any

from nslb.api.octavia.view_cache import ViewCache, is_record

Row = namedtuple("Row", ["id", "name", "tags"])


def counted() -> tuple[list[Any], Any]:
    made: list[Any] = []

    def make(row: Any, kids: list[str]) -> dict[str, Any]:
        made.append(row.id)
        return {"id": row.id, "name": row.name, "kids": list(kids)}

    return made, make


def test_equal_inputs_reuse_the_view_and_any_difference_rebuilds_it() -> None:
    cache, (made, make) = ViewCache(), counted()
    first = cache.render([Row("a", "x", [])], make, ({"a": ["k"]}, []))
    again = cache.render([Row("a", "x", [])], make, ({"a": ["k"]}, []))
    assert again[0] is first[0] and made == ["a"]
    renamed = cache.render([Row("a", "y", [])], make, ({"a": ["k"]}, []))
    tagged = cache.render([Row("a", "y", ["t"])], make, ({"a": ["k"]}, []))
    no_kids = cache.render([Row("a", "y", ["t"])], make, ({}, []))
    assert [renamed[0]["name"], tagged[0]["name"], no_kids[0]["kids"]] == ["y", "y", []]
    assert made == ["a", "a", "a", "a"]


def test_the_cache_keeps_at_most_its_bound_dropping_the_oldest() -> None:
    cache, (made, make) = ViewCache(bound=3), counted()
    rows = [Row(str(i), "n", []) for i in range(5)]
    cache.render(rows, make, ({}, []))
    assert len(cache) == 3
    made.clear()
    cache.render(rows[2:], make, ({}, []))
    assert made == []  # the three newest are kept
    cache.render(rows[:1], make, ({}, []))
    assert made == ["0"] and len(cache) == 3


def test_only_plain_records_are_cacheable() -> None:
    assert is_record([Row("a", "x", [])])
    assert not is_record([SimpleNamespace(id="a")])
    assert not is_record([])
