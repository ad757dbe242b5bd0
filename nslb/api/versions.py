"""The version document at `/` (and under the /load-balancer prefix)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from nslb.api.http import respond

# The v2 minor versions whose features nslb implements (2.5 tags, 2.10 HM domain_name and
# http_version, 2.11 additive_only member batch, 2.12 allowed_cidrs).
MAX_MINOR = 12


def base_url(request: Request) -> str:
    """Public base URL: the configured one, else what the reverse proxy says, else ours."""
    configured: str = request.app.state.settings.public_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", ""))
    return f"{proto}://{host}"


async def versions(request: Request) -> Response:
    prefix = "/load-balancer" if request.url.path.startswith("/load-balancer") else ""
    href = f"{base_url(request)}{prefix}/v2"
    docs = []
    for minor in range(MAX_MINOR + 1):
        docs.append({
            "id": f"v2.{minor}",
            "status": "CURRENT" if minor == MAX_MINOR else "SUPPORTED",
            "updated": "2018-12-01T00:00:00Z",
            "links": [{"href": href, "rel": "self"}],
        })
    return respond({"versions": docs})
