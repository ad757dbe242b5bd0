"""`nslb serve`'s options are the service settings: each one (but --config) is the field of
the same name, so a new option cannot be left out of the settings or misspelt."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path

from typer.testing import CliRunner

from nslb.cli.main import app, serve
from nslb.config import Settings


def test_every_serve_option_is_a_setting() -> None:
    options = set(inspect.signature(serve).parameters) - {"config"}
    assert options <= {f.name for f in fields(Settings)}


def test_a_flag_reaches_the_settings(tmp_path: Path) -> None:
    """A value only a flag gives is what `load` sees: an invalid topology is refused by the
    settings' validation, before anything starts."""
    result = CliRunner().invoke(app, ["serve", "--state-dir", str(tmp_path), "--topology",
                                      "TRIPLE"], env={})
    assert result.exit_code == 2
    assert "TRIPLE" in result.output
