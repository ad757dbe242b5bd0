"""A keystone-mode app in-process (--auth keystone): the embedded identity service with a
bootstrapped admin, and helpers that create projects, users and role grants through the
identity API the way `openstack project/user/role ...` does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.api.context import keystone_context
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from nslb.health.monitor import HealthMonitor
from nslb.identity import bootstrap
from nslb.identity.keys import KeyRing
from nslb.identity.service import Identity
from nslb.identity.throttle import LoginThrottle
from nslb.secrets.store import SecretStore
from nslb.worker.loop import Worker
from tests.migrated import migrated_sqlite

V3 = "/identity/v3"
NET = "/networking/v2.0"
LBAAS = "/v2/lbaas"
PHYSNETS = ["physnet1:nslbk-br1", "physnet2:nslbk-br2"]


def password_auth(name: str, password: str, project: str | None = None,
                  scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": {"name": "Default"}, "password": password}}}}
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    elif scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


@dataclass
class Cloud:
    """The app, its identity service, and the admin's token."""

    client: TestClient
    identity: Identity
    db: Database
    worker: Worker
    admin_password: str
    admin_token: str = ""
    projects: dict[str, str] = field(default_factory=dict)  # name -> id
    users: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    # the health loop on the worker's noop driver (run_once() to fold observations);
    # its live board feeds the dashboard
    health: HealthMonitor | None = None

    def login(self, name: str, password: str, project: str | None = None) -> str:
        resp = self.client.post(f"{V3}/auth/tokens", json=password_auth(name, password,
                                                                           project))
        assert resp.status_code == 201, resp.text
        token: str = resp.headers["X-Subject-Token"]
        return token

    def admin(self) -> dict[str, str]:
        return {"X-Auth-Token": self.admin_token}

    def as_admin(self, method: str, url: str, status: int, **kw: Any) -> Any:
        resp = self.client.request(method, url, headers=self.admin(), **kw)
        assert resp.status_code == status, resp.text
        return resp.json() if resp.content else None

    def project(self, name: str) -> str:
        body = self.as_admin("POST", f"{V3}/projects", 201, json={"project": {
            "name": name, "domain_id": "default"}})
        self.projects[name] = body["project"]["id"]
        return self.projects[name]

    def user(self, name: str, password: str, project: str, *roles: str) -> str:
        """A user with `roles` on `project` (a name); returns the user id."""
        body = self.as_admin("POST", f"{V3}/users", 201, json={"user": {
            "name": name, "password": password, "domain_id": "default",
            "default_project_id": self.projects[project]}})
        self.users[name] = body["user"]["id"]
        for role in roles:
            self.grant(name, project, role)
        return self.users[name]

    def grant(self, user: str, project: str, role: str, status: int = 204) -> None:
        self.as_admin("PUT", f"{V3}/projects/{self.projects[project]}/users/"
                      f"{self.users[user]}/roles/{self.roles[role]}", status)

    def client_from(self, host: str) -> TestClient:
        """The same app seen from another client address (the login throttle counts
        attempts per source address)."""
        return TestClient(self.client.app, client=(host, 40000))

    def persona(self, name: str, project: str, *roles: str) -> dict[str, str]:
        """A new user with `roles` on `project`, logged in: their request headers."""
        password = f"{name}-pw"
        self.user(name, password, project, *roles)
        return {"X-Auth-Token": self.login(name, password, project)}


@contextmanager
def keystone_cloud(state: Path, settings: Settings | None = None,
                   ttl: timedelta = timedelta(hours=1),
                   throttle: LoginThrottle | None = None,
                   db_url: str | None = None) -> Iterator[Cloud]:
    """A fresh keystone-mode app on its own SQLite database under `state` (or on the
    empty database at `db_url`, e.g. a PostgreSQL one)."""
    if db_url is None:
        db = migrated_sqlite(state / "nslb.db")
    else:
        db = Database(db_url)
        upgrade(db)
    settings = settings or Settings(state_dir=state, physnet=list(PHYSNETS), auth="keystone")
    identity = Identity(db, KeyRing(state / "fernet-keys"), ttl=ttl,
                        throttle=throttle or LoginThrottle(free=1000, source_free=1000))
    password = bootstrap.ensure_admin(db)
    assert password is not None
    driver = NoopDriver()
    worker = Worker(db, driver, resync_interval=3600,
                    secrets=SecretStore.open(db, settings.state_dir))
    health = HealthMonitor(db, driver)
    app = create_app(settings, db, kick=lambda lb_id: None, identity=identity,
                     context_for=keystone_context(identity), live=health.live)
    try:
        with TestClient(app) as client:
            cloud = Cloud(client, identity, db, worker, password, health=health)
            cloud.admin_token = cloud.login("admin", password, "admin")
            cloud.projects["admin"] = cloud.client.get(
                f"{V3}/auth/tokens", headers={**cloud.admin(),
                                              "X-Subject-Token": cloud.admin_token},
            ).json()["token"]["project"]["id"]
            roles = cloud.as_admin("GET", f"{V3}/roles", 200)["roles"]
            cloud.roles = {r["name"]: r["id"] for r in roles}
            users = cloud.as_admin("GET", f"{V3}/users?name=admin", 200)["users"]
            cloud.users["admin"] = users[0]["id"]
            yield cloud
    finally:
        worker.stop()
        db.dispose()


def keystone_error(resp: Any, status: int) -> str:
    """Assert Keystone's error shape; return the message."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "title", "message"}, body
    assert body["error"]["code"] == status
    message: str = body["error"]["message"]
    return message


def throttled(resp: Any) -> float:
    """Assert a throttled login (429 in Keystone's shape with a whole-second
    Retry-After); return the seconds to wait."""
    assert "Too many" in keystone_error(resp, 429)
    assert resp.json()["error"]["title"] == "Too Many Requests"
    assert "X-Subject-Token" not in resp.headers
    return float(resp.headers["Retry-After"])


def neutron_error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()["NeutronError"]
    return body
