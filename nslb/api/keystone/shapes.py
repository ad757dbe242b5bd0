"""Identity objects -> Keystone's JSON, and the service catalog."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request

from nslb.api.http import base_url
from nslb.db.identity import extra_of
from nslb.identity.extras import flattened
from nslb.identity.service import Principal
from nslb.identity.tokens import iso
from nslb.model.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, Project, Role, User

REGION = "RegionOne"
DOMAIN = {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}
SERVICES = (("identity", "keystone", "/identity"),
            ("load-balancer", "octavia", "/load-balancer"),
            ("network", "neutron", "/networking"),
            ("key-manager", "barbican", "/key-manager"),
            ("compute", "nova", "/compute/v2.1"))


def v3(request: Request) -> str:
    return f"{base_url(request)}/identity/v3"


def _links(request: Request, path: str) -> dict[str, Any]:
    return {"self": f"{v3(request)}/{path}"}


def collection_links(request: Request) -> dict[str, Any]:
    return {"self": str(request.url), "previous": None, "next": None}


def domain(request: Request) -> dict[str, Any]:
    return {**DOMAIN, "description": "The default domain", "enabled": True, "tags": [],
            "options": {}, "links": _links(request, f"domains/{DEFAULT_DOMAIN_ID}")}


def _with_extras(obj: Project | User, attributes: dict[str, Any],
                 updated: bool) -> dict[str, Any]:
    """Keystone's to_dict: the stored extras with the attributes over them. An update's
    answer also repeats them under `extra` (include_extra_dict, kept by Keystone for
    backwards compatibility)."""
    stored = extra_of(obj)
    out = flattened(stored, attributes)
    if updated:
        out["extra"] = stored
    return out


def project(request: Request, p: Project, updated: bool = False) -> dict[str, Any]:
    return _with_extras(p, {
        "id": p.id, "name": p.name, "description": p.description,
        "domain_id": p.domain_id, "enabled": p.enabled, "parent_id": p.domain_id,
        "is_domain": False, "tags": [], "options": {},
        "links": _links(request, f"projects/{p.id}")}, updated)


def user(request: Request, u: User, updated: bool = False) -> dict[str, Any]:
    out = {"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
           "password_expires_at": None, "options": {},
           "links": _links(request, f"users/{u.id}")}
    if u.description:
        out["description"] = u.description
    if u.default_project_id:
        out["default_project_id"] = u.default_project_id
    return _with_extras(u, out, updated)


def role(request: Request, r: Role) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "domain_id": None, "description": r.description,
            "options": {}, "links": _links(request, f"roles/{r.id}")}


def catalog(request: Request) -> list[dict[str, Any]]:
    """identity, load-balancer, network and key-manager, all at this service's public
    URL."""
    base = base_url(request)
    out = []
    for kind, name, path in SERVICES:
        endpoints = [{"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{base}{path}#{i}").hex,
                      "interface": i, "region": REGION, "region_id": REGION,
                      "url": f"{base}{path}"} for i in ("public", "internal", "admin")]
        out.append({"id": uuid.uuid5(uuid.NAMESPACE_URL, kind).hex, "type": kind,
                    "name": name, "endpoints": endpoints})
    return out


def token(request: Request, principal: Principal) -> dict[str, Any]:
    data = principal.token
    body: dict[str, Any] = {
        "methods": list(data.methods),
        "user": {"id": principal.user.id, "name": principal.user.name, "domain": DOMAIN,
                 "password_expires_at": None},
        "audit_ids": data.audit_ids,
        "issued_at": iso(data.issued_at),
        "expires_at": iso(data.expires_at),
    }
    if principal.project is not None:
        body["project"] = {"id": principal.project.id, "name": principal.project.name,
                           "domain": DOMAIN}
        body["is_domain"] = False
        body["roles"] = [{"id": rid, "name": name} for rid, name in principal.roles]
        body["catalog"] = catalog(request)
    return {"token": body}
