"""Key-manager objects -> Barbican's JSON (models' to_dict_fields + hrefs.convert_to_hrefs).

barbicanclient builds `Secret(api, **item)` from every listed secret and refuses keys it
does not know, so a secret carries exactly Barbican's keys and no more (no project id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from nslb.model.secrets import ContainerSecret, KeyManagerAcl, Secret, SecretConsumer
from nslb.model.secrets import SecretContainer as Container
from nslb.secrets.refs import href


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def secret(base: str, s: Secret, consumers: list[SecretConsumer] | None) -> dict[str, Any]:
    """Metadata of a secret; `consumers` None leaves them out (microversion 1.0)."""
    out: dict[str, Any] = {
        "created": iso(s.created_at), "updated": iso(s.updated_at), "status": s.status,
        "name": s.name, "secret_type": s.secret_type, "expiration": iso(s.expiration),
        "algorithm": s.algorithm, "bit_length": s.bit_length, "mode": s.mode,
        "creator_id": s.creator_id, "secret_ref": href(base, "secrets", s.id),
    }
    if consumers is not None:
        out["consumers"] = [{"service": c.service, "resource_type": c.resource_type,
                             "resource_id": c.resource_id} for c in consumers]
    if s.content_type is not None:
        out["content_types"] = {"default": s.content_type}
    return out


def consumer(base: str, c: SecretConsumer) -> dict[str, Any]:
    return {"created": iso(c.created_at), "updated": iso(c.updated_at), "status": "ACTIVE",
            "service": c.service, "resource_type": c.resource_type,
            "resource_id": c.resource_id, "secret_ref": href(base, "secrets", c.secret_id)}


def container(base: str, c: Container, members: list[ContainerSecret]) -> dict[str, Any]:
    return {
        "created": iso(c.created_at), "updated": iso(c.updated_at), "status": c.status,
        "name": c.name, "type": c.type, "creator_id": c.creator_id,
        "secret_refs": [{"name": m.name, "secret_ref": href(base, "secrets", m.secret_id)}
                        for m in members],
        "consumers": [], "container_ref": href(base, "containers", c.id),
    }


def acl(row: KeyManagerAcl | None, users: list[str]) -> dict[str, Any]:
    """GET .../acl: the stored read ACL, or Barbican's implicit one."""
    if row is None:
        return {"read": {"project-access": True}}
    return {"read": {"project-access": row.project_access, "users": users,
                     "created": iso(row.created_at), "updated": iso(row.updated_at)}}


def paged(base: str, resource: str, key: str, items: list[dict[str, Any]], offset: int,
          limit: int, total: int, query: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Barbican's list body: items, total, and previous/next hrefs when there are pages
    before or after (hrefs.add_nav_hrefs); `query` holds the other parameters to keep."""
    out: dict[str, Any] = {key: items}
    if items:
        extra = ("&" + urlencode(query)) if query else ""

        def link(at: int) -> str:
            return f"{base}/v1/{resource}?limit={limit}&offset={at}{extra}"

        if offset > 0:
            out["previous"] = link(max(0, offset - limit))
        if total > offset + limit:
            out["next"] = link(offset + limit)
    out["total"] = total
    return out
