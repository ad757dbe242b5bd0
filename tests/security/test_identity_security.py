"""The embedded Keystone against the probe (../shared/reference/probe-2026-12-03.md):

- F6: 40 bad logins for `admin` locked the real admin out for ~270 s and held SIGTERM 40 s.
- F7 (throttle part): the throttle kept every submitted user name.
- F11 (Keystone rows): wrong JSON types, huge integers and long strings in identity bodies
  answered 500.
- F12: appended characters kept a token valid; a token made from a revoked token stayed
  valid; a token whose key was rotated out kept working for 29 s (validation cache).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from nslb.cli.main import app as cli
from nslb.identity.gate import VerifyGate
from nslb.identity.refs import UserRef
from nslb.identity.throttle import MAX_ENTRIES, LoginThrottle
from tests.functional.keystone_helpers import (
    LBAAS,
    NET,
    V3,
    Cloud,
    keystone_cloud,
    keystone_error,
    password_auth,
    throttled,
)
from tests.functional.test_postgres import Cluster, cluster  # noqa: F401 - fixture

pytestmark = pytest.mark.security

UNAUTHORIZED = "The request you have made requires authentication."
# The probe's body, verbatim: no scope, domain by id.
PROBE_LOGIN = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": "wrong"}}}}}
BIG = 2 ** 63


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """The production throttle settings (not the functional tier's relaxed ones)."""
    with keystone_cloud(tmp_path, throttle=LoginThrottle()) as c:
        c.project("p1")
        c.user("alice", "alice-pw", "p1", "member")
        yield c


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """One cloud for the batteries of refused requests (they change nothing)."""
    with keystone_cloud(tmp_path_factory.mktemp("keystone")) as c:
        c.project("p1")
        c.user("alice", "alice-pw", "p1", "member")
        yield c


def timed(call: Any) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


# --- F6: lock-out ----------------------------------------------------------------------


def test_bad_logins_from_one_source_do_not_lock_the_admin_out_elsewhere(cloud: Cloud) -> None:
    attacker = cloud.client_from("203.0.113.66")
    statuses = [attacker.post(f"{V3}/auth/tokens", json=PROBE_LOGIN).status_code
                for _ in range(40)]
    assert set(statuses) == {401, 429}, statuses
    # only the 5 free attempts reach argon2, plus one per closed period (1 s, 2 s, ...)
    # that ran out while the 40 were sent (none on an idle machine)
    assert 5 <= statuses.count(401) <= 7, statuses

    admin = cloud.client_from("198.51.100.10")
    resp, took = timed(lambda: admin.post(f"{V3}/auth/tokens", json=password_auth(
        "admin", cloud.admin_password, "admin")))
    assert resp.status_code == 201, resp.text
    assert took < 1.0, took  # the probe waited > 120 s

    resp, took = timed(lambda: attacker.post(f"{V3}/auth/tokens", json=PROBE_LOGIN))
    assert took < 0.2, took  # the 41st: answered at once, not parked
    assert throttled(resp) >= 1
    # and the right password from the attacker's address is refused just as fast
    right = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}}}}}
    resp, took = timed(lambda: attacker.post(f"{V3}/auth/tokens", json=right))
    assert took < 0.2 and resp.status_code == 429


def test_throttle_table_stays_bounded_with_20000_huge_names(cloud: Cloud) -> None:
    """F7: names are neither stored nor allowed to grow the table."""
    throttle = cloud.identity.throttle
    before = throttle.size
    # over the API a name longer than Keystone's 255 is a 400 before the throttle...
    for i in range(50):
        body = password_auth(f"{i}" + "n" * 100_000, "x")
        keystone_error(cloud.client.post(f"{V3}/auth/tokens", json=body), 400)
    assert throttle.size == before
    # ...and 20,000 distinct names of 10 KB at the service's entry point, from as many
    # addresses, leave a bounded table of digests
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for i in range(20000):
        source = f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"
        cloud.identity.admit(source, UserRef(name=f"{i}" + "n" * 10_000))
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert throttle.size <= MAX_ENTRIES
    assert grown < 5_000_000, grown  # the names alone are 200 MB


def test_a_flood_from_many_sources_is_bounded_by_the_gate(tmp_path: Path) -> None:
    """Many sources pass the per-source throttle; the gate bounds the argon2 checks and
    refuses the overflow at once with a 503 in Keystone's shape."""
    with keystone_cloud(tmp_path, throttle=LoginThrottle()) as cloud:
        cloud.identity.gate = VerifyGate(slots=1, queue=0, wait=0)

        def attempt(i: int) -> Any:
            return cloud.client_from(f"192.0.2.{i + 1}").post(f"{V3}/auth/tokens",
                                                             json=PROBE_LOGIN)

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(attempt, range(24)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {401, 503} and 503 in statuses, statuses
        busy = next(a for a in answers if a.status_code == 503)
        keystone_error(busy, 503)
        assert busy.headers["Retry-After"] == "1"


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    return server, thread, sock.getsockname()[1]


def test_abandoned_logins_do_not_hold_up_shutdown(cloud: Cloud) -> None:
    """The probe: 12 logins for `admin` abandoned by the client after 1 s kept uvicorn's
    graceful shutdown waiting 40 s. Now every attempt is answered at once. (The client is
    http.client: the server shares this process's GIL, and httpx would spend it building
    an SSL context per request.)"""
    server, thread, port = _serve(cloud.client.app)
    body = json.dumps(PROBE_LOGIN)

    def abandon(_: int) -> int | None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("POST", f"{V3}/auth/tokens", body=body,
                         headers={"Content-Type": "application/json"})
            return conn.getresponse().status
        except TimeoutError:
            return None
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(abandon, range(40)))
    assert None not in statuses, statuses  # none needed the client's 1 s timeout
    assert set(statuses) <= {401, 429, 503} and 429 in statuses, statuses
    server.should_exit = True
    _, took = timed(lambda: thread.join(timeout=30))
    assert not thread.is_alive()
    assert took < 2.0, took


# --- F12: tokens -----------------------------------------------------------------------


def _get(cloud: Cloud, token: str, url: str = f"{LBAAS}/loadbalancers") -> int:
    status: int = cloud.client.get(url, headers={"X-Auth-Token": token}).status_code
    return status


@pytest.mark.parametrize("suffix", ["AAAA", "==", "=AAAA", " ", "\t", "x"])
def test_a_token_with_characters_appended_is_refused(cloud: Cloud, suffix: str) -> None:
    token = cloud.login("alice", "alice-pw", "p1")
    assert _get(cloud, token) == 200  # cached now: the check must not ride on the cache
    tampered = token + suffix
    for url in (f"{LBAAS}/loadbalancers", f"{NET}/networks", f"{V3}/auth/catalog"):
        resp = cloud.client.get(url, headers={"X-Auth-Token": tampered})
        assert resp.status_code == 401, (url, suffix, resp.text)
    subject = cloud.client.get(f"{V3}/auth/tokens", headers={
        **cloud.admin(), "X-Subject-Token": tampered})
    keystone_error(subject, 404)
    trade = cloud.client.post(f"{V3}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": tampered}}}})
    assert keystone_error(trade, 401) == UNAUTHORIZED


def _trade(cloud: Cloud, token: str, project: str | None = None) -> tuple[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["token"], "token": {"id": token}}}
    if project:
        auth["scope"] = {"project": {"id": cloud.projects[project]}}
    resp = cloud.client.post(f"{V3}/auth/tokens", json={"auth": auth})
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"], resp.json()["token"]


def test_tokens_made_from_a_revoked_token_die_with_it(cloud: Cloud) -> None:
    resp = cloud.client.post(f"{V3}/auth/tokens",
                             json=password_auth("alice", "alice-pw", scope="unscoped"))
    parent = resp.headers["X-Subject-Token"]
    parent_audit = resp.json()["token"]["audit_ids"]
    assert len(parent_audit) == 1
    child, body = _trade(cloud, parent, "p1")
    assert body["audit_ids"][1:] == parent_audit  # [new, parent's chain], as Keystone
    grandchild, body = _trade(cloud, child)
    assert body["audit_ids"][1:] == parent_audit
    sibling = cloud.login("alice", "alice-pw", "p1")  # not derived from the parent
    assert _get(cloud, child) == 200 and _get(cloud, grandchild) == 200
    revoke = cloud.client.delete(f"{V3}/auth/tokens", headers={
        "X-Auth-Token": parent, "X-Subject-Token": parent})
    assert revoke.status_code == 204, revoke.text
    assert _get(cloud, child) == 401
    assert _get(cloud, grandchild) == 401
    assert _get(cloud, sibling) == 200


def test_revoking_a_derived_token_ends_its_descendants_not_its_parent(cloud: Cloud) -> None:
    parent = cloud.login("alice", "alice-pw", "p1")
    child, _ = _trade(cloud, parent)
    grandchild, _ = _trade(cloud, child)
    cloud.client.delete(f"{V3}/auth/tokens", headers={**cloud.admin(),
                                                       "X-Subject-Token": child})
    assert (_get(cloud, parent), _get(cloud, child), _get(cloud, grandchild)) == (
        200, 401, 401)


def test_a_token_whose_key_was_rotated_out_fails_at_once(cloud: Cloud,
                                                         tmp_path: Path) -> None:
    """The probe: `nslb rotate-keys` twice (max_active 3) and the token kept working 29 s
    from the validation cache."""
    token = cloud.login("alice", "alice-pw", "p1")
    assert _get(cloud, token) == 200  # validated and cached
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(cli, ["rotate-keys", "--state-dir", str(tmp_path),
                                     "--max-active", "3"])
        assert result.exit_code == 0, result.output
    assert _get(cloud, token) == 401
    fresh = cloud.login("alice", "alice-pw", "p1")  # new tokens work with the new keys
    assert _get(cloud, fresh) == 200


def test_a_token_survives_one_rotation(cloud: Cloud, tmp_path: Path) -> None:
    token = cloud.login("alice", "alice-pw", "p1")
    assert _get(cloud, token) == 200
    result = CliRunner().invoke(cli, ["rotate-keys", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert _get(cloud, token) == 200  # its key is a secondary now: still valid


# --- F11: bodies that answered 500 -------------------------------------------------------


def _login(user: Any = None, scope: Any = None, **identity: Any) -> dict[str, Any]:
    ident: dict[str, Any] = {"methods": ["password"], "password": {"user": user}}
    ident.update(identity)
    auth: dict[str, Any] = {"identity": ident}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def _user(**fields: Any) -> dict[str, Any]:
    user: dict[str, Any] = {"name": "alice", "domain": {"id": "default"},
                            "password": "alice-pw"}
    user.update(fields)
    return user


WRONG_TYPES = [["x"], {"id": "x"}, 1, BIG, -BIG - 1, 1.5, True, None]
LONG = "x" * 5000

def _bad_logins() -> list[Any]:
    cases: list[Any] = [
        # the probe's reproduction: user.domain a string, and its relatives
        pytest.param(_login(_user(domain="x")), id="user.domain-string"),
        pytest.param(_login(_user(domain=["default"])), id="user.domain-list"),
        pytest.param(_login(_user(domain=1)), id="user.domain-number"),
        pytest.param(_login(_user(domain={"id": BIG})), id="user.domain.id-2^63"),
        pytest.param(_login(_user(domain={"name": ["Default"]})), id="user.domain.name-list"),
        pytest.param(_login(_user(domain={})), id="user.domain-empty"),
        pytest.param(_login({"password": "x"}), id="user-no-id-or-name"),
        pytest.param(_login("alice"), id="user-string"),
        pytest.param(_login(_user(name=LONG)), id="user.name-5000"),
        pytest.param(_login({"id": LONG, "password": "x"}), id="user.id-5000"),
        pytest.param(_login(_user(password="p" * 5000)), id="password-5000"),
        pytest.param(_login(_user(password=["x"])), id="password-list"),
        pytest.param(_login(_user(password=BIG)), id="password-2^63"),
        pytest.param(_login(_user(name="al\x00ice")), id="user.name-NUL"),
        pytest.param(_login(_user(), scope={"project": {"name": "x", "domain": "default"}}),
                     id="scope.project.domain-string"),
        pytest.param(_login(_user(), scope={"project": {}}), id="scope.project-empty"),
        pytest.param(_login(_user(), scope={"project": "p1"}), id="scope.project-string"),
        pytest.param(_login(_user(), scope={"domain": "default"}), id="scope.domain-string"),
        pytest.param(_login(_user(), scope="everything"), id="scope-other-string"),
        pytest.param(_login(_user(), scope=[1]), id="scope-list"),
        pytest.param(_login(_user(), scope={"project": {"name": "x" * 65}}),
                     id="scope.project.name-65"),
        pytest.param({"auth": {"identity": {"methods": "password"}}}, id="methods-string"),
        pytest.param({"auth": {"identity": {"methods": [BIG]}}}, id="methods-2^63"),
        pytest.param({"auth": {"identity": ["password"]}}, id="identity-list"),
        pytest.param({"auth": {"identity": {"methods": ["token"], "token": {"id": ["x"]}}}},
                     id="token.id-list"),
        pytest.param({"auth": {"identity": {"methods": ["token"], "token": {"id": BIG}}}},
                     id="token.id-2^63"),
        pytest.param({"auth": {"identity": {"methods": ["token"], "token": "x"}}},
                     id="token-string"),
    ]
    for value in WRONG_TYPES:
        kind = type(value).__name__ if value not in (BIG, -BIG - 1) else "2^63"
        cases += [
            pytest.param(_login(_user(name=value)), id=f"user.name-{kind}-{value!r:.8}"),
            pytest.param(_login({"id": value, "password": "x", "name": "alice"}),
                         id=f"user.id-{kind}-{value!r:.8}"),
            pytest.param(_login(_user(), scope={"project": {"id": value, "name": "p1"}}),
                         id=f"scope.project.id-{kind}-{value!r:.8}"),
            pytest.param(_login(_user(), scope={"project": {"name": value, "id": "x"}}),
                         id=f"scope.project.name-{kind}-{value!r:.8}"),
        ]
    return cases


def _no_echo(message: str, body: Any) -> None:
    """The message names the field, never the value (which may be a password)."""
    assert len(message) < 200, message
    assert "alice-pw" not in message and "x" * 100 not in message


@pytest.mark.parametrize("body", _bad_logins())
def test_bad_login_bodies_are_400_not_500(shared: Cloud, body: Any) -> None:
    resp = shared.client.post(f"{V3}/auth/tokens", json=body)
    if resp.status_code == 401:  # a well-typed body naming nothing nslb has
        pytest.fail(f"expected 400 for a mistyped body, got 401: {resp.text}")
    _no_echo(keystone_error(resp, 400), body)


def test_unknown_fields_are_ignored_as_keystone_does(shared: Cloud) -> None:
    body = password_auth("alice", "alice-pw", "p1")
    body["auth"]["identity"]["totp"] = {"anything": [1, None, {"x": "y"}]}
    body["auth"]["identity"]["password"]["user"]["options"] = {"x": [1.5]}
    body["auth"]["extra"] = True
    resp = shared.client.post(f"{V3}/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text


def test_domain_and_system_scopes_are_401(shared: Cloud) -> None:
    for scope in ({"domain": {"id": "default"}}, {"system": {"all": True}},
                  {"OS-TRUST:trust": {"id": "x"}}):
        resp = shared.client.post(f"{V3}/auth/tokens", json=_login(_user(), scope=scope))
        assert keystone_error(resp, 401) == UNAUTHORIZED


# (method, path, root, field, the other fields the body needs, whether null is legal:
# Keystone's schemas say ["string", "null"] for those)
ADMIN_FIELDS = [
    ("POST", "/projects", "project", "name", {}, False),
    ("PATCH", "/projects/{p1}", "project", "name", {}, False),
    ("POST", "/projects", "project", "enabled", {"name": "n"}, False),
    ("PATCH", "/projects/{p1}", "project", "description", {}, True),
    ("POST", "/users", "user", "name", {}, False),
    ("PATCH", "/users/{alice}", "user", "name", {}, False),
    ("PATCH", "/users/{alice}", "user", "enabled", {}, False),
    ("PATCH", "/users/{alice}", "user", "password", {}, True),
    ("PATCH", "/users/{alice}", "user", "default_project_id", {}, True),
    ("POST", "/users/{alice}/password", "user", "password", {"original_password": "alice-pw"},
     False),
    ("POST", "/users/{alice}/password", "user", "original_password", {"password": "new-pw"},
     True),
    ("POST", "/roles", "role", "name", {}, False),
    ("POST", "/roles", "role", "description", {"name": "r"}, True),
]


def _admin_bodies() -> list[Any]:
    cases: list[Any] = []
    for method, path, root, field, others, nullable in ADMIN_FIELDS:
        for value in [*WRONG_TYPES, LONG, "a\x00b"]:
            if field == "enabled" and isinstance(value, bool) or value is None and nullable:
                continue
            body = {root: {**others, field: value}}
            cases.append(pytest.param(method, path, body,
                                      id=f"{method}-{path}-{field}-{value!r:.10}"))
    return cases


@pytest.mark.parametrize(("method", "path", "body"), _admin_bodies())
def test_bad_identity_admin_bodies_are_400_not_500(shared: Cloud, method: str, path: str,
                                                   body: Any) -> None:
    url = V3 + path.format(p1=shared.projects["p1"], alice=shared.users["alice"])
    resp = shared.client.request(method, url, headers=shared.admin(), json=body)
    _no_echo(keystone_error(resp, 400), body)


def _refused_early(resp: Any) -> bool:
    """The HTTP layer may refuse NUL in a URL before any handler runs (400): fine too."""
    return resp.status_code == 400 and bool(keystone_error(resp, 400))


@pytest.mark.parametrize("path", ["/projects/{id}", "/users/{id}", "/roles/{id}",
                                  "/users/{id}/projects", "/projects/{id}/users/{id}/roles",
                                  "/projects/{id}/users/{id}/roles/{id}"])
@pytest.mark.parametrize("ident", ["x" * 5000, "a%00b"])
def test_long_or_nul_ids_in_paths_are_404(shared: Cloud, path: str, ident: str) -> None:
    """On PostgreSQL a NUL reached the database as a 500."""
    resp = shared.client.get(V3 + path.format(id=ident), headers=shared.admin())
    if not _refused_early(resp):
        assert len(keystone_error(resp, 404)) < 200


@pytest.mark.parametrize("query", ["name=" + "x" * 5000, "name=a%00b"])
@pytest.mark.parametrize("collection", ["projects", "users", "roles"])
def test_unmatchable_filters_list_nothing(shared: Cloud, collection: str, query: str) -> None:
    resp = shared.client.get(f"{V3}/{collection}?{query}", headers=shared.admin())
    if not _refused_early(resp):
        assert resp.status_code == 200, resp.text
        assert resp.json()[collection] == []


@pytest.mark.parametrize("query", ["user.id=" + "x" * 100, "scope.project.id=a%00b",
                                   "role.id=" + "r" * 65])
def test_unmatchable_assignment_filters_list_nothing(shared: Cloud, query: str) -> None:
    resp = shared.client.get(f"{V3}/role_assignments?{query}", headers=shared.admin())
    if not _refused_early(resp):
        assert resp.status_code == 200, resp.text
        assert resp.json()["role_assignments"] == []


# --- PostgreSQL: NUL and over-long values that SQLite stores and PostgreSQL refuses -----


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_identity_bad_input_on_postgres(cluster: Cluster,  # noqa: F811 - the fixture
                                        tmp_path: Path) -> None:
    with keystone_cloud(tmp_path, db_url=cluster.url(cluster.create_database())) as pg:
        admin = pg.admin()
        for path, body in (
                ("/projects", {"project": {"name": "a\x00b"}}),
                ("/projects", {"project": {"name": "p" * 65}}),
                ("/users", {"user": {"name": "u" * 256}}),
                ("/users", {"user": {"name": "u", "password": "a\x00b"}}),
                ("/users", {"user": {"name": "u", "default_project_id": "x" * 65}}),
                ("/roles", {"role": {"name": "r", "description": "d" * 256}})):
            keystone_error(pg.client.post(V3 + path, headers=admin, json=body), 400)
        for body in (_login(_user(name="al\x00ice")), _login({"id": "i" * 65, "password": "x"}),
                     _login(_user(), scope={"project": {"name": "p" * 65}})):
            keystone_error(pg.client.post(f"{V3}/auth/tokens", json=body), 400)
        for url in (f"{V3}/projects/{'x' * 5000}", f"{V3}/users/a%00b",
                    f"{V3}/projects?name=a%00b", f"{V3}/role_assignments?user.id=a%00b"):
            assert pg.client.get(url, headers=admin).status_code in (200, 400, 404), url
        # and the audit chain on PostgreSQL: revoking the parent ends the child
        pg.project("p1")
        pg.user("alice", "alice-pw", "p1", "member")
        parent = pg.login("alice", "alice-pw", "p1")
        child, _ = _trade(pg, parent)
        pg.client.delete(f"{V3}/auth/tokens", headers={**admin, "X-Subject-Token": parent})
        assert _get(pg, child) == 401
