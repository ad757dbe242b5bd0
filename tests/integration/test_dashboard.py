"""The web dashboard in headless Chromium against a real `nslb serve --auth keystone` with
the namespace driver: log in with the admin account the server created, watch a load
balancer go from PENDING_CREATE to ACTIVE on its page without reloading, see its graphs
move while a client sends traffic through the VIP, and see a member's row turn red when
its backend is killed. Screenshots go to the test's tmp dir, or to $NSLB_SCREENSHOTS
(dashboard.png there is the README's docs/dashboard.png).

Addresses are inside 10.205.1.0/24 and the bridge and physnet names carry "dash", so this
module can run beside other integration tests.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from nslb.dashboard.routes import WRONG_LOGIN
from tests.integration.api_env import FAST_MONITOR, LB, Api, flat_subnet, http_lb, serving
from tests.integration.api_env import url as vip_url
from tests.integration.browser import chromium, console_problems, screenshot_dir
from tests.integration.conftest import CREATED_LBS, PREFIX, Lab

PHYSNET = "dashnet"
CIDR = "10.205.1.0/24"
BACKENDS = ["10.205.1.21", "10.205.1.22"]
CLIENT = "10.205.1.50"
SEEN = 30.0  # seconds the page may take to show what the server knows (it polls each second)
DETECT = 30.0  # a killed backend: monitor delay 1 + timeout 1, one retry, a health round
# health rounds the graphs show before the screenshot: a longer line for the README's
GRAPH_POINTS = 15 if os.environ.get("NSLB_SCREENSHOTS") else 3
RED = "rgba(198, 40, 40, 1)"  # --bad in dashboard.css: the left edge of an ERROR row


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    password: str
    shots: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"


@contextmanager
def database_held(path: Path) -> Iterator[None]:
    """Hold the server's SQLite database as a slow writer would: the worker cannot record
    that an LB became ACTIVE (its writes wait on SQLite's busy timeout, 30 s) while pages,
    which only read, are still served. Taken right after the create returned, long before
    the amphora is built, so a page loaded in the block shows PENDING_CREATE however fast
    the machine is."""
    holder = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def admin_password(state_dir: Path) -> str:
    """The admin password the server wrote to its clouds.yaml on first start (a JSON string
    on the `password:` line, as bootstrap.clouds_yaml writes it)."""
    for line in (state_dir / "clouds.yaml").read_text().splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "password":
            return str(json.loads(value))
    raise AssertionError("no password in clouds.yaml")


def admin_token(api: Api, password: str) -> str:
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = api.http.post("/identity/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    return str(resp.headers["X-Subject-Token"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # 'y' starts no other lab's tag; Api passes --auth noauth and the later --auth keystone
    # wins (the last value does)
    with serving(extra_args=("--auth", "keystone"), tag=f"{PREFIX}ydash",
                 physnet=PHYSNET) as (api, lab):
        password = admin_password(api.state_dir)
        api.http.headers["X-Auth-Token"] = admin_token(api, password)
        subnet = flat_subnet(api, PHYSNET, CIDR, "10.205.1.100", "10.205.1.199")
        yield Env(api, lab, subnet, password,
                  screenshot_dir(tmp_path_factory.mktemp("screenshots")))


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with chromium() as the_browser:
        yield the_browser


def wait(browser: Chrome, timeout: float, what: str, predicate: Any) -> Any:
    return WebDriverWait(browser, timeout, poll_frequency=0.2).until(
        lambda _: predicate(), message=what)


def log_in(browser: Chrome, env: Env, password: str) -> None:
    form = browser.find_element(By.ID, "login")
    for name, value in (("username", "admin"), ("password", password), ("project", "admin")):
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def ensure_logged_in(browser: Chrome, env: Env) -> None:
    browser.get(f"{env.base}/dashboard/")
    if browser.current_url.endswith("/dashboard/login"):
        log_in(browser, env, env.password)
        wait(browser, SEEN, "the list after login",
             lambda: browser.current_url == f"{env.base}/dashboard/")


def row(browser: Chrome, object_id: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f'#lb-page .row[data-id="{object_id}"]')


def shoot(browser: Chrome, env: Env, name: str) -> Path:
    """A screenshot of the whole page (the window grown to the page's height)."""
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(1280, max(700, min(height + 20, 3000)))
    path = env.shots / name
    assert browser.save_screenshot(str(path)), path
    return path


def test_the_dashboard_asks_for_a_login_and_refuses_a_wrong_password(
        env: Env, browser: Chrome) -> None:
    browser.delete_all_cookies()
    browser.get(f"{env.base}/dashboard/")
    assert browser.current_url == f"{env.base}/dashboard/login"
    shoot(browser, env, "dashboard-login.png")

    log_in(browser, env, "not the password")
    # the click does not wait for the answer's page on a loaded host
    wait(browser, SEEN, "the error after a wrong password",
         lambda: bool(browser.find_elements(By.ID, "error")))
    assert browser.find_element(By.ID, "error").text == WRONG_LOGIN
    assert browser.get_cookie("nslb_session") is None

    log_in(browser, env, env.password)
    wait(browser, SEEN, "the list after login",
         lambda: browser.current_url == f"{env.base}/dashboard/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Load balancers"
    assert "admin" in browser.find_element(By.CSS_SELECTOR, ".who").text
    session = browser.get_cookie("nslb_session")
    assert session is not None and session["httpOnly"] and session["sameSite"] == "Strict"


def test_an_lb_goes_active_its_graphs_move_and_a_killed_members_row_turns_red(
        env: Env, browser: Chrome) -> None:
    api, lab = env.api, env.lab
    ensure_logged_in(browser, env)
    backends = [lab.host(f"be{i + 1}", [f"{a}/24"]) for i, a in enumerate(BACKENDS)]
    servers = [lab.serve(ns, f"be{i + 1}") for i, ns in enumerate(backends)]
    client = lab.host("cl", [f"{CLIENT}/24"])

    body = http_lb(env.subnet, [{"address": a, "name": f"web-{i + 1}"}
                                for i, a in enumerate(BACKENDS)],
                   monitor=FAST_MONITOR, name="shop", description="the web shop")
    lb = api.call("POST", LB, 201, {"loadbalancer": body})["loadbalancer"]
    api.lbs.append(lb["id"])
    CREATED_LBS.add(lb["id"])
    with database_held(api.state_dir / "nslb.db"):
        browser.get(f"{env.base}/dashboard/loadbalancers/{lb['id']}")
        assert row(browser, lb["id"]).get_attribute("data-prov") == "PENDING_CREATE"
        shoot(browser, env, "dashboard-pending.png")
    browser.execute_script("window.nslbNotReloaded = true;")
    wait(browser, SEEN, "the LB ACTIVE on its page",
         lambda: row(browser, lb["id"]).get_attribute("data-prov") == "ACTIVE")
    assert browser.execute_script("return window.nslbNotReloaded === true;")
    api.wait_active(lb["id"])  # and the test's own bookkeeping of the amphora

    status = api.status(lb["id"])
    listener_id = status["listeners"][0]["id"]
    members = {m["address"]: m["id"] for m in status["listeners"][0]["pools"][0]["members"]}
    wait(browser, SEEN, "both members ONLINE on the page",
         lambda: all(row(browser, m).get_attribute("data-op") == "ONLINE"
                     for m in members.values()))

    stopfile = lab_dir(env) / "stop-traffic"
    loop = lab.start_loop(client, vip_url(lb["vip_address"]), stopfile, limit=50000)
    try:
        for object_id in (listener_id, *members.values()):
            wait(browser, SEEN, f"requests/s of {object_id} above zero",
                 lambda oid=object_id: rate(browser, oid) > 0)
        # a graph is a line through a point per health round: wait for a few of them
        wait(browser, SEEN + GRAPH_POINTS, f"a requests/s line through {GRAPH_POINTS} points",
             lambda: len(points(browser, listener_id, "rps")) >= GRAPH_POINTS)
        shown = browser.find_element(By.CSS_SELECTOR,
                                     f'[data-graph="{listener_id}"] .spark.rps .value')
        assert float(shown.text) > 0
        assert all(0 <= y <= 28 for _, y in points(browser, listener_id, "rps"))
        shoot(browser, env, "dashboard-traffic.png")

        lab.stop(servers[1])
        dead = members[BACKENDS[1]]
        wait(browser, DETECT, "the killed member ERROR on the page",
             lambda: row(browser, dead).get_attribute("data-op") == "ERROR")
        assert row(browser, dead).value_of_css_property("border-left-color") == RED
        assert row(browser, members[BACKENDS[0]]).get_attribute("data-op") == "ONLINE"
        wait(browser, SEEN, "the change among the recent events",
             lambda: any("web-2: ONLINE \u2192 ERROR" in text
                         for text in texts(browser, "#events li")))
        shoot(browser, env, "dashboard.png")  # the README's
    finally:
        stopfile.touch()
        loop.wait(timeout=30)

    browser.get(f"{env.base}/dashboard/")
    assert listed(browser, lb["id"]) == {"name": "shop", "prov": "ACTIVE", "op": "DEGRADED"}
    shoot(browser, env, "dashboard-list.png")

    browser.get(f"{env.base}/dashboard/loadbalancers/{lb['id']}")
    api.delete_lb(lb["id"])
    wait(browser, SEEN, "the list again once the LB is gone",
         lambda: browser.current_url == f"{env.base}/dashboard/"
         and listed(browser, lb["id"]) is None)
    assert console_problems(browser) == []  # the strict CSP blocked nothing the pages use


def test_logging_out_ends_the_session(env: Env, browser: Chrome) -> None:
    ensure_logged_in(browser, env)
    token = browser.get_cookie("nslb_session")
    assert token is not None
    browser.find_element(By.ID, "logout").click()
    wait(browser, SEEN, "the login form after logging out",
         lambda: browser.current_url == f"{env.base}/dashboard/login")
    assert browser.get_cookie("nslb_session") is None
    # the token itself was revoked, not only forgotten by the browser
    resp = env.api.http.get("/identity/v3/auth/tokens",
                            headers={"X-Subject-Token": token["value"]})
    assert resp.status_code == 404, resp.text
    browser.get(f"{env.base}/dashboard/")
    assert browser.current_url == f"{env.base}/dashboard/login"


def texts(browser: Chrome, css: str) -> list[str]:
    """The text of every element `css` selects, read in one step: the page's script
    replaces lists (events, the LB list) wholesale, so element handles go stale."""
    found: list[str] = browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);", css)
    return found


def listed(browser: Chrome, lb_id: str) -> dict[str, str] | None:
    """The LB's row on the list page (name, provisioning, operating), read in one step."""
    found: dict[str, str] | None = browser.execute_script(
        "const tr = document.querySelector(`#lbs tr[data-id=\"${arguments[0]}\"]`);"
        "return tr && {name: tr.querySelector('a').textContent, prov: tr.dataset.prov,"
        " op: tr.dataset.op};", lb_id)
    return found


def rate(browser: Chrome, object_id: str) -> float:
    """The requests/s the page's graphs of the object show last (0 before it has two
    health rounds to compare)."""
    graphs = browser.find_elements(By.CSS_SELECTOR, f'[data-graph="{object_id}"]')
    value = graphs[0].get_attribute("data-rps") if graphs else None
    return float(value) if value else 0.0


def points(browser: Chrome, object_id: str, metric: str) -> list[tuple[float, float]]:
    """The (x, y) points of one of the object's graphs as drawn."""
    line = browser.find_element(
        By.CSS_SELECTOR, f'[data-graph="{object_id}"] .spark[data-metric="{metric}"] polyline')
    return [(float(x), float(y)) for x, y in
            (p.split(",") for p in (line.get_attribute("points") or "").split())]


def lab_dir(env: Env) -> Path:
    return env.api.state_dir
