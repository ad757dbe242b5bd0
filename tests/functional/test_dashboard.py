"""The web dashboard in keystone mode, driven as a browser would (cookies, forms, the JSON
feeds the page polls): login and logout through the identity service, the session and
CSRF cookies' flags, CSRF refusals, what the policy table lets each persona see, tenant
names shown as text, and the live figures of the health loop.

One world (two projects with a member each, an admin, a load balancer per project) is
built once for the module; the headless-browser test is tests/integration/test_dashboard.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from keystone_helpers import LBAAS, NET, V3, Cloud, keystone_cloud
from starlette.testclient import TestClient

from nslb.amphora.base import Traffic
from nslb.amphora.noop import NoopDriver
from nslb.identity.service import AuthFailed

LB_URL = f"{LBAAS}/loadbalancers"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
XSS_NAME = "<script>alert('lb')</script>"
XSS_DESCRIPTION = '"><img src=x onerror=alert(1)>'
XSS_MEMBER = "<b onmouseover=alert(2)>m1</b>"


@dataclass
class World:
    cloud: Cloud
    passwords: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def api(self, token: str, method: str, url: str, status: int, **kw: Any) -> Any:
        resp = self.cloud.client.request(method, url, headers={"X-Auth-Token": token}, **kw)
        assert resp.status_code == status, resp.text
        return resp.json() if resp.content else None

    def browser(self, base_url: str = "http://testserver") -> TestClient:
        """A fresh browser: its own cookie jar, redirects shown rather than followed."""
        return TestClient(self.cloud.client.app, base_url=base_url, follow_redirects=False)

    def logged_in(self, user: str) -> TestClient:
        browser = self.browser()
        resp = log_in(browser, user, self.passwords[user])
        assert resp.status_code == 303, resp.text
        return browser


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page
    return html.unescape(found.group(1))


def log_in(browser: TestClient, user: str, password: str, project: str = "") -> Any:
    token = csrf_of(browser.get("/dashboard/login").text)
    return browser.post("/dashboard/login", data={"username": user, "password": password,
                                                   "project": project, "csrf": token})


def set_cookies(resp: Any) -> dict[str, str]:
    """cookie name -> its whole Set-Cookie header."""
    return {h.split("=", 1)[0]: h for h in resp.headers.get_list("set-cookie")}


def flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def tree_body(subnet_id: str) -> dict[str, Any]:
    return {"loadbalancer": {
        "name": XSS_NAME, "description": XSS_DESCRIPTION, "vip_subnet_id": subnet_id,
        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "pool"}}],
        "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"name": XSS_MEMBER, "address": "10.30.0.11",
                                "protocol_port": 8080},
                               {"address": "10.30.0.12", "protocol_port": 8080}],
                   "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3,
                                     "max_retries": 3}}]}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with keystone_cloud(tmp_path_factory.mktemp("dashboard")) as cloud:
        w = World(cloud)
        w.passwords["admin"] = cloud.admin_password
        for project, user in (("team1", "alice"), ("team2", "bob")):
            cloud.project(project)
            w.passwords[user] = f"{user}-pw"
            cloud.user(user, w.passwords[user], project, "member")
        cloud.as_admin("POST", f"{V3}/roles", 201, json={"role": {"name": "auditor"}})
        roles = cloud.as_admin("GET", f"{V3}/roles", 200)["roles"]
        cloud.roles = {r["name"]: r["id"] for r in roles}
        w.passwords["carol"] = "carol-pw"
        cloud.user("carol", "carol-pw", "team1", "auditor")
        net = cloud.as_admin("POST", f"{NET}/networks", 201, json={"network": {
            "name": "public", "shared": True}})["network"]
        subnet = cloud.as_admin("POST", f"{NET}/subnets", 201, json={"subnet": {
            "network_id": net["id"], "cidr": "10.30.0.0/24", "ip_version": 4}})["subnet"]
        alice = cloud.login("alice", w.passwords["alice"])
        bob = cloud.login("bob", w.passwords["bob"])
        w.ids["alice-lb"] = w.api(alice, "POST", LB_URL, 201,
                                  json=tree_body(subnet["id"]))["loadbalancer"]["id"]
        w.ids["bob-lb"] = w.api(bob, "POST", LB_URL, 201, json={"loadbalancer": {
            "name": "bobs-lb", "vip_subnet_id": subnet["id"]}})["loadbalancer"]["id"]
        yield w


def driver_of(world: World) -> NoopDriver:
    driver = world.cloud.worker.driver
    assert isinstance(driver, NoopDriver)
    return driver


# --- login and logout -------------------------------------------------------------------


def test_not_logged_in_pages_go_to_the_login_form_and_feeds_answer_401(world: World) -> None:
    browser = world.browser()
    for path in ("/dashboard/", f"/dashboard/loadbalancers/{world.ids['alice-lb']}"):
        resp = browser.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"
    assert browser.get("/dashboard").headers["location"] == "/dashboard/"
    for path in ("/dashboard/api/loadbalancers",
                 f"/dashboard/api/loadbalancers/{world.ids['alice-lb']}"):
        assert browser.get(path).status_code == 401


def test_login_sets_an_httponly_samesite_strict_session_cookie_holding_a_valid_token(
        world: World) -> None:
    browser = world.browser()
    form = browser.get("/dashboard/login")
    assert form.status_code == 200
    csrf_cookie = set_cookies(form)["nslb_csrf"]
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= flags(csrf_cookie)
    resp = log_in(browser, "alice", world.passwords["alice"])
    assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/"
    session = set_cookies(resp)["nslb_session"]
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= flags(session)
    assert "secure" not in flags(session)  # plain http: a Secure cookie would never return
    max_age = next(int(f.split("=")[1]) for f in flags(session) if f.startswith("max-age="))
    assert 3500 < max_age <= 3600  # until the token expires
    token = browser.cookies["nslb_session"].strip('"')
    assert world.cloud.identity.validate(token).user.name == "alice"
    page = browser.get("/dashboard/")
    assert page.status_code == 200 and "alice" in page.text


def test_cookies_are_secure_over_https(world: World) -> None:
    browser = world.browser("https://testserver")
    form = browser.get("/dashboard/login")
    assert "secure" in flags(set_cookies(form)["nslb_csrf"])
    resp = log_in(browser, "bob", world.passwords["bob"])
    assert resp.status_code == 303
    assert "secure" in flags(set_cookies(resp)["nslb_session"])


def test_a_wrong_password_gets_the_form_again_and_no_session(world: World) -> None:
    browser = world.browser()
    resp = log_in(browser, "alice", "not-her-password")
    assert resp.status_code == 401
    assert "The user name, password or project is wrong." in resp.text
    assert "nslb_session" not in set_cookies(resp)
    assert 'value="alice"' in resp.text and "not-her-password" not in resp.text


def test_a_role_that_may_not_read_load_balancers_cannot_log_in(world: World) -> None:
    resp = log_in(world.browser(), "carol", world.passwords["carol"])
    assert resp.status_code == 403
    assert "may not read load balancers" in resp.text
    assert "nslb_session" not in set_cookies(resp)


def test_logout_revokes_the_token_and_clears_the_cookie(world: World) -> None:
    browser = world.logged_in("alice")
    token = browser.cookies["nslb_session"].strip('"')
    page = browser.get("/dashboard/")
    resp = browser.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
    assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"
    cleared = set_cookies(resp)["nslb_session"]
    assert "max-age=0" in flags(cleared) and "httponly" in flags(cleared)
    with pytest.raises(AuthFailed):
        world.cloud.identity.validate(token)
    again = world.browser()
    again.cookies.set("nslb_session", token, path="/dashboard")
    assert again.get("/dashboard/").headers["location"] == "/dashboard/login"


# --- CSRF --------------------------------------------------------------------------------


def test_a_login_post_without_a_valid_csrf_token_is_refused(world: World) -> None:
    browser = world.browser()
    token = csrf_of(browser.get("/dashboard/login").text)
    creds = {"username": "alice", "password": world.passwords["alice"]}
    refused = [
        browser.post("/dashboard/login", data=creds),                          # no field
        browser.post("/dashboard/login", data={**creds, "csrf": "0" * 64}),    # forged
        browser.post("/dashboard/login", data={**creds, "csrf": token},        # other site
                     headers={"Origin": "https://evil.example"}),
    ]
    stranger = world.browser()  # a token of this browser, sent from one without its cookie
    refused.append(stranger.post("/dashboard/login", data={**creds, "csrf": token}))
    for resp in refused:
        assert resp.status_code == 403, resp.text
        assert "nslb_session" not in set_cookies(resp)
    ok = browser.post("/dashboard/login", data={**creds, "csrf": token},
                      headers={"Origin": "http://testserver"})
    assert ok.status_code == 303


def test_a_logout_post_with_another_sessions_token_is_refused(world: World) -> None:
    victim, attacker = world.logged_in("alice"), world.logged_in("bob")
    token = victim.cookies["nslb_session"].strip('"')
    attackers_field = csrf_of(attacker.get("/dashboard/").text)
    for data in ({}, {"csrf": attackers_field}):
        resp = victim.post("/dashboard/logout", data=data)
        assert resp.status_code == 403
    assert world.cloud.identity.validate(token).user.name == "alice"  # still logged in
    own = csrf_of(victim.get("/dashboard/").text)
    assert victim.post("/dashboard/logout", data={"csrf": own},
                       headers={"Origin": "https://evil.example"}).status_code == 403
    assert world.cloud.identity.validate(token).user.name == "alice"


# --- what the policy lets each viewer see ------------------------------------------------


def test_a_member_sees_only_their_projects_load_balancers(world: World) -> None:
    alice = world.logged_in("alice")
    feed = alice.get("/dashboard/api/loadbalancers").json()
    assert [lb["id"] for lb in feed["loadbalancers"]] == [world.ids["alice-lb"]]
    assert feed["all_projects"] is False
    assert "bobs-lb" not in alice.get("/dashboard/").text
    bobs = world.ids["bob-lb"]
    assert alice.get(f"/dashboard/loadbalancers/{bobs}").status_code == 404
    assert alice.get(f"/dashboard/api/loadbalancers/{bobs}").status_code == 404
    bob = world.logged_in("bob")
    assert [lb["name"] for lb in bob.get("/dashboard/api/loadbalancers").json()[
        "loadbalancers"]] == ["bobs-lb"]


def test_an_admin_sees_every_project_and_the_amphorae(world: World) -> None:
    world.cloud.worker.drain()
    admin = world.logged_in("admin")
    feed = admin.get("/dashboard/api/loadbalancers").json()
    assert {lb["id"] for lb in feed["loadbalancers"]} == {world.ids["alice-lb"],
                                                          world.ids["bob-lb"]}
    assert feed["all_projects"] is True
    lb_id = world.ids["alice-lb"]
    detail = admin.get(f"/dashboard/api/loadbalancers/{lb_id}").json()
    assert [(a["role"], a["status"], a["namespace"][:5]) for a in detail["amphorae"]] == [
        ("STANDALONE", "ALLOCATED", "nslb-")]
    page = admin.get(f"/dashboard/loadbalancers/{lb_id}").text
    assert detail["amphorae"][0]["namespace"] in page
    amphora_id = detail["amphorae"][0]["id"]
    assert f"amphora {amphora_id[:8]} (STANDALONE) created" in [
        e["text"] for e in detail["events"] if e["kind"] == "amphora"]


def test_a_member_is_not_shown_amphorae(world: World) -> None:
    world.cloud.worker.drain()
    alice = world.logged_in("alice")
    lb_id = world.ids["alice-lb"]
    detail = alice.get(f"/dashboard/api/loadbalancers/{lb_id}").json()
    assert detail["amphorae"] is None
    assert not any("amphora" in e["text"] for e in detail["events"])
    page = alice.get(f"/dashboard/loadbalancers/{lb_id}").text
    assert "Amphora details are for administrators" in page and "nslb-" not in page


# --- escaping and headers ------------------------------------------------------------


def test_tenant_names_are_shown_as_text(world: World) -> None:
    alice = world.logged_in("alice")
    pages = [alice.get("/dashboard/").text,
             alice.get(f"/dashboard/loadbalancers/{world.ids['alice-lb']}").text]
    for page in pages:
        assert "&lt;script&gt;alert(&#39;lb&#39;)&lt;/script&gt;" in page
        assert "<script>alert" not in page
        # the only script is the dashboard's own file
        assert re.findall(r"<script[^>]*>", page) == [
            '<script src="/dashboard/static/dashboard.js" defer>']
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[1]
    assert "&lt;b onmouseover=alert(2)&gt;m1&lt;/b&gt;" in pages[1]
    assert "<img" not in pages[1] and "<b " not in pages[1]


def test_every_answer_carries_a_strict_content_security_policy(world: World) -> None:
    alice = world.logged_in("alice")
    for path in ("/dashboard/", "/dashboard/login", "/dashboard/api/loadbalancers",
                 f"/dashboard/loadbalancers/{world.ids['alice-lb']}",
                 "/dashboard/static/dashboard.js"):
        resp = alice.get(path)
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
    js = alice.get("/dashboard/static/dashboard.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "textContent" in js.text and "innerHTML" not in js.text
    assert alice.get("/dashboard/static/..%2fdata.py").status_code == 404


# --- the live feed --------------------------------------------------------------------------


def test_the_feed_shows_statuses_traffic_and_status_changes(world: World) -> None:
    cloud, lb_id = world.cloud, world.ids["alice-lb"]
    cloud.worker.drain()
    alice = world.logged_in("alice")
    before = alice.get(f"/dashboard/api/loadbalancers/{lb_id}").json()
    assert before["loadbalancer"]["provisioning_status"] == "ACTIVE"
    tree = world.api(cloud.login("alice", world.passwords["alice"]), "GET",
                     f"{LB_URL}/{lb_id}/status", 200)["statuses"]["loadbalancer"]
    listener = tree["listeners"][0]
    member = listener["pools"][0]["members"][0]
    driver_of(world).traffic.update({listener["id"]: Traffic(120, 3, 1),
                                     member["id"]: Traffic(60, 2, 0)})
    assert cloud.health is not None
    cloud.health.run_once()
    feed = alice.get(f"/dashboard/api/loadbalancers/{lb_id}").json()
    assert feed["traffic"]["counters"][listener["id"]] == [120, 3, 1]
    assert feed["traffic"]["counters"][member["id"]] == [60, 2, 0]
    assert feed["objects"][lb_id] == ["ACTIVE", "ONLINE"]
    assert feed["objects"][member["id"]][1] == "ONLINE"
    changes = [e["text"] for e in feed["events"] if e["kind"] == "operating"]
    assert f"load balancer {XSS_NAME}: OFFLINE \u2192 ONLINE" in changes
    provisioning = [e["text"] for e in feed["events"] if e["kind"] == "provisioning"]
    # the tree came in one create: its listener and pool are told by the LB's event
    assert provisioning == [f"load balancer {XSS_NAME} created"]
    page = alice.get(f"/dashboard/loadbalancers/{lb_id}").text
    assert f'data-id="{member["id"]}" data-prov="ACTIVE" data-op="ONLINE"' in page
