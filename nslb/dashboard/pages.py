"""Rendering: one autoescaping Jinja2 environment and the headers every dashboard answer
carries.

Names and descriptions are tenant input, so every value reaches the page through
autoescape (and the page's script writes them with textContent). The Content-Security-
Policy allows scripts, styles and fetches from this server only and no inline script or
style at all, so even markup that slipped through could run nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse, JSONResponse, Response

TEMPLATES = Path(__file__).parent / "templates"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # not no-referrer: under it Chromium sends `Origin: null` with our own form posts,
    # which the CSRF check (csrf.py) must refuse; same-origin names nothing to other sites
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: float | datetime | None) -> str:
    """A timestamp as the page shows it: UTC, to the second."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        stamp = datetime.fromtimestamp(value, UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


environment = Environment(loader=FileSystemLoader(TEMPLATES),
                          autoescape=select_autoescape(default=True, default_for_string=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
environment.filters["when"] = _when


def secured(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def page(template: str, status: int = 200, **values: Any) -> Response:
    html = environment.get_template(template).render(**values)
    return secured(HTMLResponse(html, status_code=status))


def data(body: Any, status: int = 200) -> Response:
    return secured(JSONResponse(body, status_code=status))
