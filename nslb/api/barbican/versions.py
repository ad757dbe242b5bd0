"""Version discovery and microversions, as Barbican answers them
(barbican/api/controllers/versions.py, microversion_parse's middleware).

barbicanclient discovers with keystoneauth: `GET <catalog url>` (300 with the versions)
and `GET .../v1/` with `OpenStack-API-Version: key-manager 1.1`, then sends that header on
every call. Without the header a request is at 1.0, whose documents are the older shape
(status "stable", media types) and whose secrets carry no `consumers`. nslb serves 1.0
and 1.1 (consumers); 1.2 (no deleting a secret that has consumers) is not claimed.
"""

from __future__ import annotations

import re
from typing import Any

from nslb.api.barbican.faults import abort

SERVICE = "key-manager"
VERSIONS = ("1.0", "1.1")
MIN_VERSION, MAX_VERSION = VERSIONS[0], VERSIONS[-1]
HEADER = "openstack-api-version"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def requested(header: str | None) -> str:
    """The microversion a request asks for: 1.0 without a key-manager entry, the highest
    for `latest`; 400 for a malformed one, 406 for one not served."""
    if not header:
        return MIN_VERSION
    for item in header.split(","):
        words = item.strip().split()
        if len(words) != 2 or words[0].lower() != SERVICE:
            continue
        value = words[1].lower()
        if value == "latest":
            return MAX_VERSION
        match = _VERSION.match(value)
        if match is None:
            raise abort(400, "invalid version string")
        normal = f"{int(match[1])}.{int(match[2])}"
        if normal not in VERSIONS:
            raise abort(406, "Unacceptable version header: " + normal[:16])
        return normal
    return MIN_VERSION


def at_least(version: str, wanted: str) -> bool:
    return VERSIONS.index(version) >= VERSIONS.index(wanted)


def v1_info(base: str, version: str) -> dict[str, Any]:
    """The v1 version object; `base` is the public URL of /key-manager."""
    links = [{"rel": "self", "href": f"{base}/v1/"},
             {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}]
    if version == MIN_VERSION:
        return {"id": "v1", "status": "stable", "links": links,
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.key-manager-v1+json"}]}
    return {"id": "v1", "status": "CURRENT", "min_version": MIN_VERSION,
            "max_version": MAX_VERSION, "links": links}


def root_document(base: str, version: str) -> dict[str, Any]:
    """The unversioned endpoint's body (answered with 300 Multiple Choices)."""
    if version == MIN_VERSION:
        return {"versions": {"values": [v1_info(base, version)]}}
    return {"versions": [v1_info(base, version)]}


def v1_document(base: str, version: str) -> dict[str, Any]:
    return {"version": v1_info(base, version)}
