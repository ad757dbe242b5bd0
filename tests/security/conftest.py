"""The security tier: the probe's reproductions (../shared/reference/probe-2026-12-03.md) as
regression tests, plus fuzzing of every request body.

Tests here send the attacker's exact input and check the outcome. In-process tests reuse the
functional fixtures (real app, SQLite, noop driver); tests that need the data plane are
marked `integration` and use the integration tier's labs.
"""

from __future__ import annotations

from tests.functional.conftest import (  # noqa: F401 - fixtures re-exported for this tier
    client,
    db,
    driver,
    health,
    settings,
    worker,
)
