"""Severities shared by `nslb trace` and `nslb doctor`, and the exit status scripts read."""

from __future__ import annotations

from collections.abc import Iterable

OK, INFO, WARNING, ERROR = "ok", "info", "warning", "error"
# Exit statuses: 0 nothing to fix, 1 warnings only, 2 at least one error.
EXIT = {OK: 0, INFO: 0, WARNING: 1, ERROR: 2}


def exit_status(severities: Iterable[str]) -> int:
    return max((EXIT.get(s, 0) for s in severities), default=0)
