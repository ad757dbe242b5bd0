"""Headless Chromium for the dashboard tests: Debian's `chromium` driven by Selenium through
Debian's `chromedriver` (both installed by `make setup`, the same version by construction),
so nothing is downloaded at test time: Selenium Manager is never asked for a driver or a
browser because both paths are given.

Chromium refuses to start as root with its sandbox on; CI runs the tests as root, so the
sandbox is turned off there (the pages it opens are this test's own, on loopback).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 1000)


def options(profile: str) -> webdriver.ChromeOptions:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, CSP reports
    return opts


def console_problems(browser: webdriver.Chrome) -> list[str]:
    """Console messages since the last call that show the page broken: a script error or
    anything the Content-Security-Policy blocked (answers with an error status are not)."""
    return [entry["message"] for entry in browser.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]]


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with its own profile, quit and removed afterwards."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise RuntimeError(f"{path} is missing: `make setup` installs chromium and "
                               "chromium-driver")
    profile = tempfile.mkdtemp(prefix="nslb-chromium-")
    browser = webdriver.Chrome(options=options(profile), service=Service(CHROMEDRIVER))
    try:
        browser.set_page_load_timeout(30)
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: $NSLB_SCREENSHOTS if set (to refresh docs/), else `default`."""
    chosen = Path(os.environ.get("NSLB_SCREENSHOTS") or default)
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen
