"""Strict decoding of untrusted JSON request bodies and text.

`json.loads` accepts values no part of nslb can store or render: lone surrogates (which
cannot be encoded back to UTF-8, not even in an error message), NUL characters (PostgreSQL
refuses them in text), NaN and Infinity (not JSON at all), integers of any size (SQLite and
PostgreSQL stop at 64 bits) and nesting down to the interpreter's recursion limit. A body is
decoded once and walked once here, so every handler sees only values that are safe
everywhere; anything else is a 400 in the fault shape of the API that was called.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from nslb.api.faults import BadRequest

MAX_DEPTH = 32
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# A NUL or any UTF-16 surrogate code point (a decoded "\ud800" escape, or raw surrogate
# bytes that json.loads lets through with "surrogatepass").
UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


def loads(raw: bytes) -> Any:
    """The decoded body; BadRequest for anything that is not plain, storable JSON."""
    try:
        value = json.loads(raw or b"null", parse_constant=_no_constant)
    except RecursionError:
        # The C scanner counts nesting against the recursion limit and fails cleanly;
        # a body that deep is refused like any other too-deep body.
        raise _too_deep() from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise BadRequest("Invalid input: request body is not valid JSON") from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Walk a decoded value once, iteratively (no recursion on attacker-chosen depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise _too_deep()
            if isinstance(item, dict):
                for key, child in item.items():
                    check_text(key, "a key")
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            check_text(item, "a string")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise BadRequest("Invalid input: integers must fit in 64 bits")
        elif isinstance(item, float) and not math.isfinite(item):
            raise BadRequest("Invalid input: numbers must be finite")


def check_text(text: str, what: str = "a value") -> None:
    """BadRequest when `text` holds a NUL or a lone surrogate."""
    if UNSAFE_TEXT.search(text):
        raise BadRequest(f"Invalid input: {what} contains a NUL character or an invalid "
                         "Unicode code point")


def _no_constant(name: str) -> Any:
    raise BadRequest(f"Invalid input: {name} is not a JSON number")


def _too_deep() -> BadRequest:
    return BadRequest(f"Invalid input: JSON nested deeper than {MAX_DEPTH} levels")
