"""The one parser for the dashboard's form posts: urlencoded, bounded, known fields only.

Forms here are tiny (a login, a logout button), so anything beyond a few fields or a few
kilobytes is refused rather than parsed; the API's body limit already caps what is read.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM_BYTES = 8192
MAX_FIELD_CHARS = 1024


class BadForm(ValueError):
    """Not a form this dashboard sends."""


async def read_form(request: Request, fields: frozenset[str]) -> dict[str, str]:
    """The named fields of an application/x-www-form-urlencoded body (missing ones are "";
    unknown names are ignored, a repeated known name is refused)."""
    raw = await request.body()
    if not raw:  # a post of nothing: every field empty (and so refused by the CSRF check)
        return dict.fromkeys(fields, "")
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadForm("expected a form")
    if len(raw) > MAX_FORM_BYTES:
        raise BadForm("form too large")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=len(fields) + 4, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadForm("malformed form") from None
    out = dict.fromkeys(fields, "")
    seen: set[str] = set()
    for name, value in pairs:
        if name not in fields:
            continue
        if name in seen or len(value) > MAX_FIELD_CHARS or "\x00" in value:
            raise BadForm("malformed form")
        seen.add(name)
        out[name] = value
    return out
