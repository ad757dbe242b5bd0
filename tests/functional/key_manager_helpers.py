"""A key-manager app in-process whose callers are personas: project, user and roles come
from headers (X-Project-Id, X-User-Id, X-Roles), so tests exercise Barbican's policy
without the identity service. keystone_helpers covers the real token path."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.testclient import TestClient

from nslb.api.app import create_app
from nslb.api.context import Context
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from tests.migrated import migrated_sqlite

KM = "/key-manager/v1"
BASE = "http://testserver/key-manager"
V11 = {"OpenStack-API-Version": "key-manager 1.1"}
A, B = "a" * 32, "b" * 32
# name -> (project, user id, roles)
PERSONAS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "a_admin": (A, "ua-admin", ("admin",)),
    "a_member": (A, "ua-member", ("member",)),
    "a_member2": (A, "ua-member2", ("member",)),
    "a_reader": (A, "ua-reader", ("reader",)),
    "a_lb": (A, "ua-lb", ("load-balancer_member",)),
    "b_member": (B, "ub-member", ("member",)),
    "b_admin": (B, "ub-admin", ("admin",)),
    "b_reader": (B, "ub-reader", ("reader",)),
}
BARBICAN_SECRET_KEYS = {"name", "expiration", "algorithm", "bit_length", "mode", "payload",
                        "payload_content_type", "payload_content_encoding", "secret_ref",
                        "created", "updated", "content_types", "status", "secret_type",
                        "creator_id", "consumers"}


def persona_context(request: Request) -> Context:
    roles = frozenset(r for r in request.headers.get("x-roles", "").split(",") if r)
    return Context(project_id=request.headers.get("x-project-id"), roles=roles,
                   user_id=request.headers.get("x-user-id"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def barbican_error(resp: Any, status: int) -> str | None:
    """Assert Barbican's fault shape; return the description."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "title", "description"}, body
    assert body["code"] == status
    description: str | None = body["description"]
    return description


@dataclass
class KeyManager:
    client: TestClient
    db: Database
    state: Path

    def call(self, who: str, method: str, url: str, **kw: Any) -> Any:
        project, user, roles = PERSONAS[who]
        headers = {"X-Project-Id": project, "X-User-Id": user, "X-Roles": ",".join(roles),
                   **V11, **kw.pop("headers", {})}
        if not url.startswith("http"):
            url = KM + url
        return self.client.request(method, url, headers=headers, **kw)

    def ok(self, who: str, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        resp = self.call(who, method, url, **kw)
        assert resp.status_code == status, (who, method, url, resp.text)
        return resp.json() if resp.content and "json" in resp.headers["content-type"] else resp

    def store(self, who: str, payload: str = "s3cret-text", **attrs: Any) -> str:
        body = {"name": "s", "payload": payload, "payload_content_type": "text/plain", **attrs}
        if attrs.get("payload_content_encoding") == "base64":
            body["payload_content_type"] = attrs.get("payload_content_type",
                                                     "application/octet-stream")
        ref: str = self.ok(who, "POST", "/secrets/", 201, json=body)["secret_ref"]
        return ref

    def container(self, who: str, refs: dict[str, str], kind: str = "certificate",
                  status: int = 201) -> Any:
        body = {"name": "c", "type": kind,
                "secret_refs": [{"name": n, "secret_ref": r} for n, r in refs.items()]}
        return self.ok(who, "POST", "/containers/", status, json=body)

    def payload(self, who: str, ref: str, accept: str = "text/plain") -> Any:
        return self.call(who, "GET", ref + "/payload", headers={"Accept": accept})


@contextmanager
def key_manager(state: Path, db_url: str | None = None) -> Iterator[KeyManager]:
    """On a fresh SQLite database under `state`, or on the empty database at `db_url`."""
    if db_url is None:
        db = migrated_sqlite(state / "nslb.db")
    else:
        db = Database(db_url)
        upgrade(db)
    app = create_app(Settings(state_dir=state), db, context_for=persona_context)
    try:
        with TestClient(app) as client:
            yield KeyManager(client, db, state)
    finally:
        db.dispose()
