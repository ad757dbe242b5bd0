"""`nslb demo --tag` (or NSLB_DEMO_TAG) names the demo that runs or is cleaned, and a bad
tag is refused before anything is touched."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nslb.cli.main import app
from nslb.demo import run as demo_run
from nslb.demo.site import Site


@pytest.fixture
def cleaned(monkeypatch: pytest.MonkeyPatch) -> list[Site]:
    sites: list[Site] = []
    monkeypatch.setattr(demo_run, "clean", lambda site: sites.append(site))
    return sites


def test_the_tag_option_and_the_environment_name_the_demo(cleaned: list[Site]) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "--clean", "--tag", "lab2"], env={}).exit_code == 0
    assert runner.invoke(app, ["demo", "--clean"], env={"NSLB_DEMO_TAG": "ci-7"}).exit_code == 0
    assert runner.invoke(app, ["demo", "--clean"], env={"NSLB_DEMO_TAG": ""}).exit_code == 0
    assert [s.tag for s in cleaned] == ["lab2", "ci-7", "nslbdemo"]
    assert cleaned[0].namespace("web1") == "lab2-web1"


def test_a_bad_tag_is_refused_before_anything_runs(cleaned: list[Site]) -> None:
    result = CliRunner().invoke(app, ["demo", "--clean", "--tag", "../etc"],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "must be 1-24 lower-case letters" in result.output
    assert cleaned == []
