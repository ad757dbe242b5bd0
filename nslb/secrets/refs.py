"""Secret and container references: `<public url>/key-manager/v1/secrets/<uuid>`.

As barbicanclient does, only the last two path segments count (`secrets|containers` and
the UUID): the host part of a ref is not trusted to mean anything, so a ref written with
another host name of this service resolves the same, and a ref naming some other host
can never reach anything but this service's own objects.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

KINDS = ("secrets", "containers")
MAX_REF_CHARS = 1024
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class BadRef(ValueError):
    """Not a secret or container reference."""


@dataclass(frozen=True)
class Ref:
    kind: str  # "secrets" or "containers"
    id: str


def is_uuid(text: str) -> bool:
    """Barbican's validate_id_is_uuid: the canonical lower-case form only."""
    return bool(CANONICAL_UUID.match(text))


def parse(ref: str) -> Ref:
    if not isinstance(ref, str) or len(ref) > MAX_REF_CHARS:
        raise BadRef("not a reference")
    try:
        path = urlsplit(ref.strip()).path.rstrip("/")
    except ValueError:  # e.g. a bracketed host that is not an IPv6 address
        raise BadRef("not a reference") from None
    parts = path.split("/")
    if len(parts) < 2 or parts[-2] not in KINDS:
        raise BadRef("not a secret or container reference")
    ident = parts[-1].lower()
    try:
        ident = str(uuid.UUID(ident))
    except ValueError:
        raise BadRef("no UUID at the end of the reference") from None
    return Ref(parts[-2], ident)


def href(base: str, kind: str, ident: str) -> str:
    """The absolute ref of an object, `base` being the public URL of /key-manager."""
    return f"{base}/v1/{kind}/{ident}"
