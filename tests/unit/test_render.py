"""Golden-file tests of the haproxy renderer, and haproxy's own verdict on every golden file.

Regenerate the golden files after an intended change with:
    NSLB_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/test_render.py
and review the diff like code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from nslb.render import render_haproxy
from nslb.render.haproxy import amphora_dir, render_files
from nslb.render.healthchecks import expand_expected_codes, expect_line
from nslb.render.limits import (
    capacity,
    frontend_maxconn,
    global_maxconn,
    maxconn_for_fd_limit,
)
from tests.unit import render_cases, render_tls_cases

CASES = {**render_cases.CASES, **render_tls_cases.TLS_CASES}

GOLDEN = Path(__file__).parent.parent / "golden"
STATE_DIR = "/var/lib/nslb"
FD_LIMIT = 20000
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists(
    "/usr/sbin/haproxy") else None)


def _render(case: str) -> str:
    """The config of the case's (first) amphora."""
    snap = CASES[case]()
    amphora = snap.amphorae[0].id if snap.amphorae else None
    return render_haproxy(snap, state_dir=STATE_DIR, fd_limit=FD_LIMIT, amphora_id=amphora)


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_golden(case: str) -> None:
    text = _render(case)
    golden = GOLDEN / f"{case}.cfg"
    if os.environ.get("NSLB_REGEN_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}; run with NSLB_REGEN_GOLDEN=1"
    assert text == golden.read_text()


def test_every_case_has_a_golden_file_and_vice_versa() -> None:
    assert {p.stem for p in GOLDEN.glob("*.cfg")} == set(CASES)


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_file_is_valid_for_haproxy(case: str) -> None:
    """haproxy -c on the golden file itself. A config naming TLS files is checked with
    them in place: the case's certificates, CA files, CRLs and certificate lists are
    written under a temporary directory (short: haproxy caps socket paths at 97 bytes)
    that stands for the golden's state directory."""
    assert HAPROXY is not None
    golden = GOLDEN / f"{case}.cfg"
    snap = CASES[case]()
    amphora = snap.amphorae[0].id if snap.amphorae else None
    files = render_files(snap, state_dir=STATE_DIR, fd_limit=FD_LIMIT, amphora_id=amphora)
    with tempfile.TemporaryDirectory(prefix="nslb-g", dir="/tmp") as tmp:
        checked = golden
        if len(files) > 1:
            here = amphora_dir(tmp, amphora or snap.lb.id)
            for name, text in files.items():
                (here / name).parent.mkdir(parents=True, exist_ok=True)
                (here / name).write_text(text.replace(STATE_DIR, tmp))
            checked = Path(tmp) / golden.name
            checked.write_text(golden.read_text().replace(STATE_DIR, tmp))
        result = subprocess.run([HAPROXY, "-c", "-q", "-f", str(checked)],
                                capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout + result.stderr


def test_render_is_deterministic() -> None:
    assert _render("http_full") == _render("http_full")


def test_disabled_listener_and_lb_do_not_serve() -> None:
    assert "    disabled\n" in _render("disabled_lb")
    mixed = _render("mixed")
    assert mixed.count("    disabled\n") == 1  # only the admin-down listener, not the LB


def test_admin_down_monitor_means_no_checks() -> None:
    assert " check" not in _render("mixed")


@pytest.mark.parametrize(("codes", "expected"), [
    ("200", ["200"]), ("200,202", ["200", "202"]), ("200-204", ["200", "201", "202", "203",
                                                                 "204"]),
    ("200 , 302", ["200", "302"]), (None, ["200"]),
])
def test_expected_codes_expand(codes: str | None, expected: list[str]) -> None:
    assert expand_expected_codes(codes) == expected


def test_expect_line_uses_status_for_one_code_and_anchored_regex_for_many() -> None:
    assert expect_line("200") == "http-check expect status 200"
    assert expect_line("200-201") == "http-check expect rstatus ^(200|201)$"


def test_maxconn_fits_the_fd_limit() -> None:
    assert maxconn_for_fd_limit(1024) == (1024 - 256) * 2 // 5
    # listeners and checked servers cost a descriptor each, budgeted in steps of 256
    assert global_maxconn(1024, [-1, 10]) == maxconn_for_fd_limit(1024, 256 + 256)
    assert global_maxconn(1024, [10, 20]) == 30
    assert global_maxconn(1024, [1000, 1000]) == maxconn_for_fd_limit(1024, 256 + 256)
    # every health-checked server holds one descriptor (probe F5: 240 servers broke a
    # constant reserve)
    assert global_maxconn(20000, [-1], 240) == (20000 - 256 - 256) * 2 // 5
    assert global_maxconn(20000, [-1], 256) == (20000 - 256 - 512) * 2 // 5
    # within a step the budget does not move: members come and go without a reload
    assert global_maxconn(20000, [-1], 3) == global_maxconn(20000, [-1], 200)
    assert frontend_maxconn(-1, 300) == 300
    assert frontend_maxconn(50, 300) == 50
    assert frontend_maxconn(500, 300) == 300


def test_capacity_keeps_a_useful_connection_budget() -> None:
    room = capacity(20000)
    assert global_maxconn(20000, [-1], room - 1) >= 1000
    assert capacity(1024) == 0


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_low_fd_limit_renders_a_config_haproxy_can_start_under(tmp_path: Path) -> None:
    """haproxy -c checks the FD budget too: a limit of 512 must still produce a valid config."""
    assert HAPROXY is not None
    cfg = tmp_path / "low.cfg"
    cfg.write_text(render_haproxy(CASES["http_full"](), state_dir=STATE_DIR, fd_limit=512))
    result = subprocess.run(["sh", "-c", f"ulimit -n 512 && {HAPROXY} -c -q -f {cfg}"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
