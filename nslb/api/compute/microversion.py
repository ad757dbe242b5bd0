"""Nova's microversions for the compute subset at /compute/v2.1.

A client asks for a version with `OpenStack-API-Version: compute 2.61` (or the legacy
`X-OpenStack-Nova-API-Version: 2.61`); `latest` is the maximum, no header the minimum.
An unparseable version is a 400 and one outside the range a 406, in Nova's words and
fault shape, before any handler runs. Every answer under /compute/v2.1 says which
version it speaks (`OpenStack-API-Version`, `X-OpenStack-Nova-API-Version`, `Vary`), as
Nova's wsgi.Resource does, errors included.

The range is 2.53-2.85. Below 2.53 Nova's hypervisors and services have integer ids;
nslb's hosts only have UUIDs, so those versions could not be served faithfully. 2.88
strips most hypervisor fields (openstacksdk asks for up to 2.88), so nslb stops at 2.85
and the stock clients see capacity figures. Handlers ask `at_least(request, "2.61")`;
the field differences live beside their views (nslb/api/compute/routes.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nslb.api.faults import ApiError, BadRequest
from nslb.api.http import error_response, shown

PREFIX = "/compute/v2.1"
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
SERVICE = "compute"
STATE_KEY = "compute_version"
# Nova's APIVersionRequest grammar (no leading zeros, minor 0 allowed), nine digits at most
# each so a huge number is a 400, not an int() beyond its limit.
GRAMMAR = re.compile(r"([1-9][0-9]{0,8})\.([1-9][0-9]{0,8}|0)")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def parse(text: str) -> Version:
    """`text` as a version, else Nova's 400 (InvalidAPIVersionString)."""
    match = GRAMMAR.fullmatch(text)
    if match is None:
        raise BadRequest(f"API Version String {shown(text)} is of invalid format. Must be "
                         "of format MajorNum.MinorNum.")
    return Version(int(match.group(1)), int(match.group(2)))


MIN = parse("2.53")
MAX = parse("2.85")


class NotAcceptable(ApiError):
    """406: Nova's HTTPNotAcceptable, which its fault table names `computeFault`."""

    status = 406


def asked(headers: Headers) -> str | None:
    """The version string the client asked for, as microversion_parse.get_version finds
    it: the standard header's `compute` entry first (it may list several services),
    else the legacy header."""
    for line in headers.getlist(HEADER):
        for entry in line.split(","):
            service, _, version = entry.strip().partition(" ")
            if service.lower() == SERVICE and version.strip():
                return version.strip()
    legacy = headers.get(LEGACY_HEADER)
    return legacy.strip() if legacy is not None else None


def negotiate(headers: Headers) -> Version:
    """The version this request is served at, or the 400/406 Nova would answer."""
    text = asked(headers)
    if text is None:
        return MIN
    if text == "latest":
        return MAX
    version = parse(text)
    if not MIN <= version <= MAX:
        raise NotAcceptable(f"Version {version} is not supported by the API. Minimum is "
                            f"{MIN} and maximum is {MAX}.")
    return version


def of(request: Request) -> Version:
    """The version the middleware negotiated for this request (the minimum outside it)."""
    found = request.scope.get("state", {}).get(STATE_KEY)
    return found if isinstance(found, Version) else MIN


def at_least(request: Request, version: str) -> bool:
    """Nova's api_version_request.is_supported(req, min_version=version)."""
    return of(request) >= parse(version)


def document() -> dict[str, str]:
    """The range as Nova's version documents state it."""
    return {"version": str(MAX), "min_version": str(MIN)}


class Microversions:
    """ASGI middleware: negotiates the version of each /compute/v2.1 request and stamps
    it on the answer; other paths pass untouched. Mounted once, in nslb/api/app.py."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        try:
            version = negotiate(Headers(scope=scope))
        except ApiError as exc:  # no version: Nova's fault carries no version headers
            await error_response(Request(scope), exc)(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = version

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_headers(version)]
            await send(message)

        await self.app(scope, receive, stamped)


def _headers(version: Version) -> list[tuple[bytes, bytes]]:
    return [(HEADER.lower().encode(), f"{SERVICE} {version}".encode()),
            (LEGACY_HEADER.lower().encode(), str(version).encode()),
            (b"vary", f"{HEADER}, {LEGACY_HEADER}".encode())]
