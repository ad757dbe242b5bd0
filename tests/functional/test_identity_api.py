"""The embedded Keystone v3 subset through HTTP: tokens (issue, rescope, validate, revoke,
expiry), the catalog and its public URLs, projects/users/roles/assignments, the error
shape, the login throttle, and no secrets in the logs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from keystone_helpers import (
    LBAAS,
    NET,
    PHYSNETS,
    V3,
    Cloud,
    keystone_cloud,
    keystone_error,
    password_auth,
    throttled,
)

from nslb.config import Settings
from nslb.identity.throttle import LoginThrottle

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UNAUTHORIZED = "The request you have made requires authentication."


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    with keystone_cloud(tmp_path) as c:
        c.project("p1")
        c.project("p2")
        c.user("alice", "alice-pw", "p1", "member")
        yield c


def stamp(value: str) -> datetime:
    assert STAMP.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def issue(cloud: Cloud, body: dict[str, Any], status: int = 201,
          headers: dict[str, str] | None = None) -> Any:
    resp = cloud.client.post(f"{V3}/auth/tokens", json=body, headers=headers or {})
    assert resp.status_code == status, resp.text
    return resp


def validate(cloud: Cloud, token: str, caller: str | None = None,
             method: str = "GET") -> Any:
    return cloud.client.request(method, f"{V3}/auth/tokens", headers={
        "X-Auth-Token": caller or token, "X-Subject-Token": token})


# --- issuing -------------------------------------------------------------------------


def test_project_scoped_password_token(cloud: Cloud) -> None:
    resp = issue(cloud, password_auth("alice", "alice-pw", "p1"))
    token = resp.headers["X-Subject-Token"]
    assert token.startswith("gAAAAA") and token not in resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()["token"]
    assert body["methods"] == ["password"]
    assert body["user"]["id"] == cloud.users["alice"]
    assert body["user"]["name"] == "alice"
    assert body["user"]["domain"] == {"id": "default", "name": "Default"}
    assert body["project"] == {"id": cloud.projects["p1"], "name": "p1",
                               "domain": {"id": "default", "name": "Default"}}
    assert [r["name"] for r in body["roles"]] == ["member"]
    assert body["roles"][0]["id"] == cloud.roles["member"]
    assert len(body["audit_ids"]) == 1
    issued, expires = stamp(body["issued_at"]), stamp(body["expires_at"])
    assert abs((expires - issued) - timedelta(hours=1)) < timedelta(seconds=1)
    assert abs(issued - datetime.utcnow()) < timedelta(seconds=30)
    types = {s["type"]: s for s in body["catalog"]}
    assert set(types) == {"identity", "load-balancer", "network", "key-manager", "compute"}
    for service in types.values():
        assert {e["interface"] for e in service["endpoints"]} == {"public", "internal",
                                                                  "admin"}
        assert all(e["region"] == "RegionOne" for e in service["endpoints"])
    urls = {t: s["endpoints"][0]["url"] for t, s in types.items()}
    assert urls == {"identity": "http://testserver/identity",
                    "load-balancer": "http://testserver/load-balancer",
                    "compute": "http://testserver/compute/v2.1",
                    "network": "http://testserver/networking",
                    "key-manager": "http://testserver/key-manager"}


def test_project_by_id_and_user_by_id(cloud: Cloud) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": cloud.users["alice"], "password": "alice-pw"}}},
        "scope": {"project": {"id": cloud.projects["p1"]}}}}
    assert issue(cloud, body).json()["token"]["project"]["name"] == "p1"


def test_default_project_scopes_a_token_without_scope(cloud: Cloud) -> None:
    body = issue(cloud, password_auth("alice", "alice-pw")).json()["token"]
    assert body["project"]["id"] == cloud.projects["p1"]


def test_unscoped_tokens(cloud: Cloud) -> None:
    explicit = issue(cloud, password_auth("alice", "alice-pw", scope="unscoped")).json()
    cloud.as_admin("POST", f"{V3}/users", 201, json={"user": {"name": "nop",
                                                               "password": "nop-pw"}})
    implicit = issue(cloud, password_auth("nop", "nop-pw")).json()
    for body in (explicit["token"], implicit["token"]):
        assert body["methods"] == ["password"]
        assert not {"project", "roles", "catalog"} & set(body), body
        stamp(body["expires_at"])


def test_unscoped_token_lists_projects_and_is_rescoped(cloud: Cloud) -> None:
    resp = issue(cloud, password_auth("alice", "alice-pw", scope="unscoped"))
    unscoped = resp.headers["X-Subject-Token"]
    first = resp.json()["token"]
    mine = cloud.client.get(f"{V3}/auth/projects", headers={"X-Auth-Token": unscoped})
    assert [p["name"] for p in mine.json()["projects"]] == ["p1"]
    # unscoped: no roles, so the load-balancer API refuses
    lbs = cloud.client.get(f"{LBAAS}/loadbalancers", headers={"X-Auth-Token": unscoped})
    assert lbs.status_code == 403
    rescoped = issue(cloud, {"auth": {"identity": {"methods": ["token"],
                                                   "token": {"id": unscoped}},
                                      "scope": {"project": {"id": cloud.projects["p1"]}}}})
    body = rescoped.json()["token"]
    assert set(body["methods"]) == {"password", "token"}
    # Keystone's audit_ids: [this token's, the chain's (the token it was made from)]
    assert len(body["audit_ids"]) == 2 and body["audit_ids"][1:] == first["audit_ids"]
    assert body["project"]["name"] == "p1"
    assert [r["name"] for r in body["roles"]] == ["member"]
    assert stamp(body["expires_at"]) <= stamp(first["expires_at"])
    scoped = rescoped.headers["X-Subject-Token"]
    assert scoped != unscoped
    lbs = cloud.client.get(f"{LBAAS}/loadbalancers", headers={"X-Auth-Token": scoped})
    assert lbs.status_code == 200, lbs.text
    # the token method also takes the token from X-Auth-Token
    again = issue(cloud, {"auth": {"identity": {"methods": ["token"], "token": {}},
                                   "scope": {"project": {"name": "p1",
                                                         "domain": {"name": "Default"}}}}},
                  headers={"X-Auth-Token": unscoped})
    assert again.json()["token"]["project"]["name"] == "p1"
    # no role on p2: no token for it
    denied = issue(cloud, {"auth": {"identity": {"methods": ["token"],
                                                 "token": {"id": unscoped}},
                                    "scope": {"project": {"id": cloud.projects["p2"]}}}},
                   status=401)
    assert keystone_error(denied, 401) == UNAUTHORIZED


# --- validation and revocation -------------------------------------------------------


def test_validate_get_and_head(cloud: Cloud) -> None:
    resp = issue(cloud, password_auth("alice", "alice-pw", "p1"))
    token, issued = resp.headers["X-Subject-Token"], resp.json()
    own = validate(cloud, token)
    assert own.status_code == 200, own.text
    assert own.headers["X-Subject-Token"] == token
    assert own.json() == issued
    by_admin = validate(cloud, token, caller=cloud.admin_token)
    assert by_admin.json() == issued
    head = validate(cloud, token, method="HEAD")
    assert head.status_code == 200 and head.content == b""
    # someone else's token: only admins may look
    bob_token = (cloud.user("bob", "bob-pw", "p2", "member"),
                 cloud.login("bob", "bob-pw", "p2"))[1]
    keystone_error(validate(cloud, token, caller=bob_token), 403)
    keystone_error(validate(cloud, "gAAAAAnonsense", caller=cloud.admin_token), 404)
    missing = cloud.client.get(f"{V3}/auth/tokens", headers=cloud.admin())
    keystone_error(missing, 400)


def test_revoked_token_is_refused_everywhere(cloud: Cloud) -> None:
    token = cloud.login("alice", "alice-pw", "p1")
    other = cloud.login("alice", "alice-pw", "p1")
    headers = {"X-Auth-Token": token}
    assert cloud.client.get(f"{LBAAS}/loadbalancers", headers=headers).status_code == 200
    resp = cloud.client.delete(f"{V3}/auth/tokens", headers={**headers,
                                                              "X-Subject-Token": token})
    assert resp.status_code == 204, resp.text
    assert keystone_error(validate(cloud, token), 401) == UNAUTHORIZED
    keystone_error(validate(cloud, token, caller=cloud.admin_token), 404)
    for url in (f"{LBAAS}/loadbalancers", "/load-balancer/v2/lbaas/pools", f"{NET}/networks",
                f"{V3}/auth/catalog", f"{V3}/auth/projects"):
        resp = cloud.client.get(url, headers=headers)
        assert resp.status_code == 401, (url, resp.text)
        assert UNAUTHORIZED in resp.text
    rescope = issue(cloud, {"auth": {"identity": {"methods": ["token"],
                                                  "token": {"id": token}}}}, status=401)
    assert keystone_error(rescope, 401) == UNAUTHORIZED
    # the same user's other token is untouched
    assert cloud.client.get(f"{LBAAS}/loadbalancers",
                            headers={"X-Auth-Token": other}).status_code == 200


def test_admin_revokes_a_users_token(cloud: Cloud) -> None:
    token = cloud.login("alice", "alice-pw", "p1")
    resp = cloud.client.delete(f"{V3}/auth/tokens", headers={**cloud.admin(),
                                                              "X-Subject-Token": token})
    assert resp.status_code == 204
    assert cloud.client.get(f"{NET}/networks", headers={"X-Auth-Token": token}
                            ).status_code == 401
    assert validate(cloud, cloud.admin_token).status_code == 200


def test_expired_token_is_401(tmp_path: Path) -> None:
    with keystone_cloud(tmp_path, ttl=timedelta(seconds=1)) as cloud:
        token = cloud.admin_token
        body = validate(cloud, token).json()["token"]
        assert stamp(body["expires_at"]) - stamp(body["issued_at"]) == timedelta(seconds=1)
        assert cloud.client.get(f"{LBAAS}/loadbalancers",
                                headers=cloud.admin()).status_code == 200
        time.sleep(1.2)
        for url in (f"{LBAAS}/loadbalancers", f"{NET}/networks", f"{V3}/projects"):
            resp = cloud.client.get(url, headers=cloud.admin())
            assert resp.status_code == 401, (url, resp.text)
        assert keystone_error(validate(cloud, token), 401) == UNAUTHORIZED


def test_garbage_and_missing_tokens_are_401(cloud: Cloud) -> None:
    for headers in ({}, {"X-Auth-Token": ""}, {"X-Auth-Token": "garbage"},
                    {"X-Auth-Token": cloud.admin_token[:-3] + "AAA"}):
        for url in (f"{LBAAS}/loadbalancers", f"{NET}/networks", f"{V3}/users"):
            resp = cloud.client.get(url, headers=headers)
            assert resp.status_code == 401, (url, headers, resp.text)
            assert "WWW-Authenticate" in resp.headers
    # version documents stay open
    for url in ("/", "/load-balancer/", "/networking/", "/identity/", f"{V3}"):
        assert cloud.client.get(url).status_code in (200, 300), url


# --- failures look alike -------------------------------------------------------------


def test_wrong_password_and_unknown_user_give_the_same_401(cloud: Cloud) -> None:
    cloud.user("disabled", "disabled-pw", "p1", "member")
    cloud.as_admin("PATCH", f"{V3}/users/{cloud.users['disabled']}", 200,
                   json={"user": {"enabled": False}})
    cloud.user("nopass", "", "p1", "member")
    attempts = [
        password_auth("alice", "wrong", "p1"),
        password_auth("nobody", "alice-pw", "p1"),
        password_auth("alice", "alice-pw", "no-such-project"),
        password_auth("alice", "alice-pw", "p2"),  # no role there
        password_auth("disabled", "disabled-pw", "p1"),
        password_auth("nopass", "", "p1"),
        password_auth("nopass", "nslb-no-such-user", "p1"),
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "alice", "domain": {"name": "Other"}, "password": "alice-pw"}}}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "id": "0" * 32, "password": "alice-pw"}}}}},
        {"auth": {"identity": {"methods": ["token"], "token": {"id": "nonsense"}}}},
    ]
    bodies = []
    for body in attempts:
        resp = issue(cloud, body, status=401)
        assert "X-Subject-Token" not in resp.headers
        bodies.append(resp.json())
    assert all(b == bodies[0] for b in bodies), bodies
    assert bodies[0] == {"error": {"code": 401, "title": "Unauthorized",
                                   "message": UNAUTHORIZED}}


def test_malformed_auth_requests_are_400(cloud: Cloud) -> None:
    for body in ({}, {"auth": "x"},
                 {"auth": {"identity": {"methods": ["password"], "password": {
                     "user": {"name": "alice"}}}}}):
        keystone_error(cloud.client.post(f"{V3}/auth/tokens", json=body), 400)
    resp = cloud.client.post(f"{V3}/auth/tokens", content=b"{not json",
                             headers={"Content-Type": "application/json"})
    keystone_error(resp, 400)


class FrozenClock:
    """The throttle's clock, moved by the test instead of sleeping: each delay is checked
    at exact instants, with no timing of requests on a shared, noisy machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_are_refused_at_once_per_source_and_user(tmp_path: Path) -> None:
    """Past the free attempts the door closes for a doubling delay; an attempt while it is
    closed gets 429 at once (nothing waits), other users and other sources are not
    affected, and the right password after the delay clears the record."""
    clock = FrozenClock()
    throttle = LoginThrottle(free=2, window=60, base=0.3, cap=0.6, clock=clock)
    with keystone_cloud(tmp_path, throttle=throttle) as cloud:
        cloud.project("p1")
        cloud.user("alice", "alice-pw", "p1", "member")
        cloud.user("bob", "bob-pw", "p1", "member")

        def attempt(name: str, password: str, status: int, client: Any = None) -> Any:
            resp = (client or cloud.client).post(f"{V3}/auth/tokens",
                                                  json=password_auth(name, password, "p1"))
            assert resp.status_code == status, resp.text
            return resp

        attempt("alice", "wrong", 401)
        attempt("alice", "wrong", 401)  # the 2nd closes the door for 0.3 s
        assert throttled(attempt("alice", "alice-pw", 429)) == 1  # even the right one
        attempt("bob", "bob-pw", 201)  # other users are not slowed
        attempt("alice", "alice-pw", 201, cloud.client_from("198.51.100.20"))  # nor sources
        clock.now += 0.2
        attempt("alice", "alice-pw", 429)  # still closed
        clock.now += 0.15
        attempt("alice", "wrong", 401)  # admitted again; closes for 0.6 s
        throttled(attempt("alice", "wrong", 429))
        clock.now += 0.65
        attempt("alice", "alice-pw", 201)  # clears the record
        attempt("alice", "wrong", 401)
        attempt("alice", "wrong", 401)


def test_a_parallel_burst_of_failed_logins_is_cut_short(tmp_path: Path) -> None:
    throttle = LoginThrottle(free=2, window=60, base=5, cap=5, clock=FrozenClock())
    with keystone_cloud(tmp_path, throttle=throttle) as cloud:
        cloud.project("p1")
        cloud.user("alice", "alice-pw", "p1", "member")
        body = password_auth("alice", "wrong", "p1")

        def attempt(_: int) -> int:
            status: int = cloud.client.post(f"{V3}/auth/tokens", json=body).status_code
            return status

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(attempt, range(8)))
        # attempts are counted when admitted, before argon2: only the free ones are checked
        assert sorted(statuses) == [401, 401] + [429] * 6, statuses


# --- catalog and links ---------------------------------------------------------------


def catalog_urls(body: dict[str, Any]) -> set[str]:
    return {e["url"] for s in body["catalog"] for e in s["endpoints"]}


def test_catalog_follows_forwarded_headers(cloud: Cloud) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lb.example.com:8443"}
    resp = issue(cloud, password_auth("alice", "alice-pw", "p1"), headers=forwarded)
    base = "https://lb.example.com:8443"
    assert catalog_urls(resp.json()["token"]) == {f"{base}/identity",
                                                  f"{base}/load-balancer",
                                                  f"{base}/networking",
                                                  f"{base}/key-manager",
                                                  f"{base}/compute/v2.1"}
    token = resp.headers["X-Subject-Token"]
    catalog = cloud.client.get(f"{V3}/auth/catalog",
                               headers={"X-Auth-Token": token, **forwarded})
    assert catalog.status_code == 200
    assert catalog_urls(catalog.json()) == catalog_urls(resp.json()["token"])
    project = cloud.client.get(f"{V3}/projects/{cloud.projects['p1']}",
                               headers={"X-Auth-Token": token, **forwarded}).json()
    assert project["project"]["links"]["self"] == (
        f"{base}/identity/v3/projects/{cloud.projects['p1']}")
    version = cloud.client.get(f"{V3}", headers=forwarded).json()["version"]
    assert version["links"][0]["href"] == f"{base}/identity/v3/"


def test_catalog_uses_the_configured_public_url(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), auth="keystone",
                        public_url="https://cloud.example.net/")
    with keystone_cloud(tmp_path, settings=settings) as cloud:
        resp = issue(cloud, password_auth("admin", cloud.admin_password, "admin"),
                     headers={"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil"})
        assert catalog_urls(resp.json()["token"]) == {
            "https://cloud.example.net/identity", "https://cloud.example.net/load-balancer",
            "https://cloud.example.net/networking", "https://cloud.example.net/key-manager",
            "https://cloud.example.net/compute/v2.1"}
        versions = cloud.client.get("/identity/")
        assert versions.status_code == 300
        values = versions.json()["versions"]["values"]
        assert values[0]["id"].startswith("v3")
        assert values[0]["links"][0]["href"] == "https://cloud.example.net/identity/v3/"


# --- projects, users, roles ----------------------------------------------------------


def test_project_crud_and_error_shapes(cloud: Cloud) -> None:
    pid = cloud.projects["p1"]
    listed = cloud.as_admin("GET", f"{V3}/projects", 200)["projects"]
    assert sorted(p["name"] for p in listed) == ["admin", "p1", "p2"]
    by_name = cloud.as_admin("GET", f"{V3}/projects?name=p1", 200)["projects"]
    assert [p["id"] for p in by_name] == [pid]
    shown = cloud.as_admin("GET", f"{V3}/projects/{pid}", 200)["project"]
    assert shown["domain_id"] == "default" and shown["enabled"] is True
    cloud.as_admin("PATCH", f"{V3}/projects/{pid}", 200,
                   json={"project": {"description": "first"}})
    assert cloud.as_admin("GET", f"{V3}/projects/{pid}", 200)["project"][
        "description"] == "first"
    dup = cloud.client.post(f"{V3}/projects", headers=cloud.admin(),
                            json={"project": {"name": "p1"}})
    assert "Duplicate entry" in keystone_error(dup, 409)
    keystone_error(cloud.client.get(f"{V3}/projects/nope", headers=cloud.admin()), 404)
    keystone_error(cloud.client.post(f"{V3}/projects", headers=cloud.admin(),
                                     json={"project": {}}), 400)
    keystone_error(cloud.client.get(f"{V3}/no-such-thing", headers=cloud.admin()), 404)
    rename = cloud.client.patch(f"{V3}/projects/{pid}", headers=cloud.admin(),
                                json={"project": {"name": "p2"}})
    keystone_error(rename, 409)
    # a member of p1 sees p1, not the list, not p2, and changes nothing
    alice = {"X-Auth-Token": cloud.login("alice", "alice-pw", "p1")}
    assert cloud.client.get(f"{V3}/projects/{pid}", headers=alice).status_code == 200
    keystone_error(cloud.client.get(f"{V3}/projects", headers=alice), 403)
    keystone_error(cloud.client.get(f"{V3}/projects/{cloud.projects['p2']}",
                                    headers=alice), 403)
    keystone_error(cloud.client.post(f"{V3}/projects", headers=alice,
                                     json={"project": {"name": "mine"}}), 403)
    keystone_error(cloud.client.delete(f"{V3}/projects/{pid}", headers=alice), 403)
    # deleting a project ends its tokens and assignments
    cloud.as_admin("DELETE", f"{V3}/projects/{pid}", 204)
    assert cloud.client.get(f"{LBAAS}/loadbalancers", headers=alice).status_code == 401
    assert cloud.as_admin("GET", f"{V3}/role_assignments?user.id={cloud.users['alice']}",
                          200)["role_assignments"] == []


def test_user_crud_and_passwords(cloud: Cloud) -> None:
    uid = cloud.users["alice"]
    user = cloud.as_admin("GET", f"{V3}/users/{uid}", 200)["user"]
    assert user["name"] == "alice" and user["domain_id"] == "default"
    assert user["default_project_id"] == cloud.projects["p1"]
    assert not {"password", "password_hash"} & set(user)
    assert [u["id"] for u in cloud.as_admin("GET", f"{V3}/users?name=alice", 200)[
        "users"]] == [uid]
    dup = cloud.client.post(f"{V3}/users", headers=cloud.admin(),
                            json={"user": {"name": "alice", "password": "x"}})
    keystone_error(dup, 409)
    cloud.user("carol", "carol-pw", "p2")
    rename = cloud.client.patch(f"{V3}/users/{uid}", headers=cloud.admin(),
                                json={"user": {"name": "carol"}})
    keystone_error(rename, 409)
    # `openstack user set --password`
    cloud.as_admin("PATCH", f"{V3}/users/{uid}", 200, json={"user": {"password": "new-pw"}})
    issue(cloud, password_auth("alice", "alice-pw", "p1"), status=401)
    token = cloud.login("alice", "new-pw", "p1")
    alice = {"X-Auth-Token": token}
    # users see themselves, change their own password with the old one, nothing else
    assert cloud.client.get(f"{V3}/users/{uid}", headers=alice).status_code == 200
    keystone_error(cloud.client.get(f"{V3}/users", headers=alice), 403)
    keystone_error(cloud.client.get(f"{V3}/users/{cloud.users['admin']}", headers=alice), 403)
    keystone_error(cloud.client.patch(f"{V3}/users/{uid}", headers=alice,
                                      json={"user": {"enabled": True}}), 403)
    bad = cloud.client.post(f"{V3}/users/{uid}/password", headers=alice, json={"user": {
        "original_password": "wrong", "password": "newer-pw"}})
    keystone_error(bad, 401)
    ok = cloud.client.post(f"{V3}/users/{uid}/password", headers=alice, json={"user": {
        "original_password": "new-pw", "password": "newer-pw"}})
    assert ok.status_code == 204, ok.text
    # the change voided the token it was made with, as Keystone does
    assert cloud.client.get(f"{V3}/users/{uid}", headers=alice).status_code == 401
    alice = {"X-Auth-Token": cloud.login("alice", "newer-pw", "p1")}
    projects = cloud.client.get(f"{V3}/users/{uid}/projects", headers=alice)
    assert [p["name"] for p in projects.json()["projects"]] == ["p1"]
    # disabling ends the user's tokens; deleting removes the user
    cloud.as_admin("PATCH", f"{V3}/users/{uid}", 200, json={"user": {"enabled": False}})
    assert cloud.client.get(f"{NET}/networks", headers=alice).status_code == 401
    cloud.as_admin("DELETE", f"{V3}/users/{uid}", 204)
    keystone_error(cloud.client.get(f"{V3}/users/{uid}", headers=cloud.admin()), 404)
    issue(cloud, password_auth("alice", "newer-pw", "p1"), status=401)


def test_roles_grants_and_assignments(cloud: Cloud) -> None:
    roles = {r["name"] for r in cloud.as_admin("GET", f"{V3}/roles", 200)["roles"]}
    assert {"admin", "member", "reader", "load-balancer_observer",
            "load-balancer_global_observer", "load-balancer_member",
            "load-balancer_quota_admin", "load-balancer_admin"} <= roles
    created = cloud.as_admin("POST", f"{V3}/roles", 201, json={"role": {"name": "custom"}})
    cloud.roles["custom"] = created["role"]["id"]
    keystone_error(cloud.client.post(f"{V3}/roles", headers=cloud.admin(),
                                     json={"role": {"name": "custom"}}), 409)
    cloud.grant("alice", "p2", "reader")
    cloud.grant("alice", "p2", "reader")  # idempotent
    p2, uid = cloud.projects["p2"], cloud.users["alice"]
    grant_url = f"{V3}/projects/{p2}/users/{uid}/roles"
    assert cloud.client.head(f"{grant_url}/{cloud.roles['reader']}",
                             headers=cloud.admin()).status_code == 204
    assert cloud.client.head(f"{grant_url}/{cloud.roles['member']}",
                             headers=cloud.admin()).status_code == 404
    on_p2 = cloud.as_admin("GET", grant_url, 200)["roles"]
    assert [r["name"] for r in on_p2] == ["reader"]
    found = cloud.as_admin("GET", f"{V3}/role_assignments?user.id={uid}&include_names=True",
                           200)["role_assignments"]
    assert sorted((a["role"]["name"], a["scope"]["project"]["name"]) for a in found) == [
        ("member", "p1"), ("reader", "p2")]
    assert all(a["user"] == {"id": uid, "name": "alice",
                             "domain": {"id": "default", "name": "Default"}} for a in found)
    by_project = cloud.as_admin("GET", f"{V3}/role_assignments?scope.project.id={p2}", 200)
    assert [(a["user"]["id"], a["role"]["id"]) for a in by_project["role_assignments"]] == [
        (uid, cloud.roles["reader"])]
    everything = cloud.as_admin("GET", f"{V3}/role_assignments", 200)["role_assignments"]
    assert len(everything) == 5  # admin x3, alice x2
    # a non-admin sees only their own assignments
    token = cloud.login("alice", "alice-pw", "p2")
    mine = cloud.client.get(f"{V3}/role_assignments", headers={"X-Auth-Token": token})
    assert len(mine.json()["role_assignments"]) == 2
    others = cloud.client.get(f"{V3}/role_assignments?user.id={cloud.users['admin']}",
                              headers={"X-Auth-Token": token})
    assert others.json()["role_assignments"] == []
    keystone_error(cloud.client.put(f"{grant_url}/{cloud.roles['admin']}",
                                    headers={"X-Auth-Token": token}), 403)
    keystone_error(cloud.client.put(f"{grant_url}/nope", headers=cloud.admin()), 404)
    # removing the only role on p2 ends the p2-scoped token at once
    assert cloud.client.get(f"{NET}/networks",
                            headers={"X-Auth-Token": token}).status_code == 200
    cloud.as_admin("DELETE", f"{grant_url}/{cloud.roles['reader']}", 204)
    cloud.as_admin("DELETE", f"{grant_url}/{cloud.roles['reader']}", 404)
    assert cloud.client.get(f"{NET}/networks",
                            headers={"X-Auth-Token": token}).status_code == 401
    cloud.as_admin("DELETE", f"{V3}/roles/{cloud.roles['custom']}", 204)


def test_domains(cloud: Cloud) -> None:
    domains = cloud.as_admin("GET", f"{V3}/domains", 200)["domains"]
    assert [(d["id"], d["name"]) for d in domains] == [("default", "Default")]
    assert cloud.as_admin("GET", f"{V3}/domains?name=Default", 200)["domains"]
    assert cloud.as_admin("GET", f"{V3}/domains?name=Other", 200)["domains"] == []
    assert cloud.as_admin("GET", f"{V3}/domains/default", 200)["domain"]["name"] == "Default"
    keystone_error(cloud.client.get(f"{V3}/domains/other", headers=cloud.admin()), 404)
    other = cloud.client.post(f"{V3}/projects", headers=cloud.admin(),
                              json={"project": {"name": "x", "domain_id": "other"}})
    keystone_error(other, 400)


# --- no secrets in logs --------------------------------------------------------------


def test_no_password_or_token_in_logs(cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {cloud.admin_password, "alice-pw", "s3cret-new", "wrong-guess"}
    tokens = {cloud.admin_token}
    resp = issue(cloud, password_auth("alice", "alice-pw", "p1"))
    tokens.add(resp.headers["X-Subject-Token"])
    issue(cloud, password_auth("alice", "wrong-guess", "p1"), status=401)
    issue(cloud, password_auth("nobody", "wrong-guess", "p1"), status=401)
    token = resp.headers["X-Subject-Token"]
    validate(cloud, token)
    validate(cloud, token, caller=cloud.admin_token, method="HEAD")
    cloud.client.get(f"{LBAAS}/loadbalancers", headers={"X-Auth-Token": token})
    cloud.client.get(f"{NET}/networks", headers={"X-Auth-Token": token + "x"})
    cloud.as_admin("PATCH", f"{V3}/users/{cloud.users['alice']}", 200,
                   json={"user": {"password": "s3cret-new"}})
    rescoped = issue(cloud, {"auth": {"identity": {"methods": ["token"],
                                                   "token": {"id": cloud.admin_token}}}})
    tokens.add(rescoped.headers["X-Subject-Token"])
    cloud.client.delete(f"{V3}/auth/tokens", headers={"X-Auth-Token": token,
                                                      "X-Subject-Token": token})
    cloud.client.get(f"{V3}/auth/tokens", headers={"X-Auth-Token": token,
                                                   "X-Subject-Token": token})
    assert caplog.records, "expected some log records (the HTTP client logs requests)"
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.exc_info or "")
        for secret in secrets | tokens:
            assert secret not in text, (secret, record.name, text)


def test_no_password_or_token_in_logs_when_refused(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Throttled, mistyped and over-long attempts log neither the password nor the name's
    full text, and the 400s do not echo them."""
    caplog.set_level(logging.DEBUG)
    with keystone_cloud(tmp_path, throttle=LoginThrottle(free=1, base=60)) as cloud:
        secret, long_name = "hunter2-secret", "n" * 300
        for body in (password_auth("admin", secret), password_auth("admin", secret)):
            cloud.client.post(f"{V3}/auth/tokens", json=body)  # 401, then 429
        resp = cloud.client.post(f"{V3}/auth/tokens", json=password_auth(long_name, secret))
        assert secret not in keystone_error(resp, 400) and long_name not in resp.text
        mistyped = password_auth("admin", secret)
        mistyped["auth"]["identity"]["password"]["user"]["password"] = [secret]
        resp = cloud.client.post(f"{V3}/auth/tokens", json=mistyped)
        assert secret not in keystone_error(resp, 400)
        bad_token = cloud.admin_token + "AAAA"
        cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
            "methods": ["token"], "token": {"id": bad_token}}}})
        for record in caplog.records:
            text = record.getMessage() + repr(record.args) + str(record.exc_info or "")
            for value in (secret, long_name, cloud.admin_token, cloud.admin_password):
                assert value not in text, (record.name, text)


def test_password_change_and_disabling_end_existing_tokens(cloud: Cloud) -> None:
    """As Keystone does: a new password (or a disabled user) voids every older token."""
    uid = cloud.users["alice"]
    old = issue(cloud, password_auth("alice", "alice-pw", "p1")).headers["X-Subject-Token"]
    assert cloud.client.get(LBAAS + "/loadbalancers",
                            headers={"X-Auth-Token": old}).status_code == 200
    cloud.as_admin("PATCH", f"{V3}/users/{uid}", 200, json={"user": {"password": "new-pw"}})
    assert cloud.client.get(LBAAS + "/loadbalancers",
                            headers={"X-Auth-Token": old}).status_code == 401
    fresh = issue(cloud, password_auth("alice", "new-pw", "p1")).headers["X-Subject-Token"]
    assert cloud.client.get(LBAAS + "/loadbalancers",
                            headers={"X-Auth-Token": fresh}).status_code == 200

    cloud.as_admin("PATCH", f"{V3}/users/{uid}", 200, json={"user": {"enabled": False}})
    cloud.as_admin("PATCH", f"{V3}/users/{uid}", 200, json={"user": {"enabled": True}})
    assert cloud.client.get(LBAAS + "/loadbalancers",
                            headers={"X-Auth-Token": fresh}).status_code == 401


def test_sqlite_database_is_private(tmp_path: Path) -> None:
    """The database holds password hashes: owner-only from its first byte."""
    from nslb.db.engine import Database

    path = tmp_path / "state" / "nslb.db"
    Database(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o600
