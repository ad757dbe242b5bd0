"""Column types shared by the tables."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class JSONText(TypeDecorator[Any]):
    """JSON kept as compact text, so tag filters can use LIKE on SQLite and PostgreSQL alike."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value == "[]":  # most rows' tags: a list of 1,000 rows parsed a thousand of them
            return []
        return json.loads(value)


def tag_pattern(tag: str) -> str:
    """The LIKE pattern that finds one exact tag inside a JSONText list of tags."""
    encoded = json.dumps(tag)
    escaped = encoded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
