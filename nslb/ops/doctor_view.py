"""`nslb doctor`'s findings for people (one line each, why and fix under the ones to act
on) and for scripts (JSON with the readings they came from)."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict

from nslb.ops.doctor_checks import Finding
from nslb.ops.doctor_readings import Readings
from nslb.ops.findings import ERROR, INFO, OK, WARNING, exit_status

TAGS = {OK: "ok     ", INFO: "info   ", WARNING: "WARNING", ERROR: "ERROR  "}
INDENT = " " * 9
WIDTH = 100


def status_word(findings: list[Finding]) -> str:
    severities = {f.severity for f in findings}
    return next((s for s in (ERROR, WARNING) if s in severities), OK)


def as_text(findings: list[Finding]) -> str:
    lines = []
    for finding in findings:
        lines.append(f"{TAGS.get(finding.severity, finding.severity)}  {finding.summary}")
        if finding.severity in (WARNING, ERROR, INFO):
            if finding.why:
                lines.extend(textwrap.wrap(f"why: {finding.why}", WIDTH, initial_indent=INDENT,
                                           subsequent_indent=INDENT + "     "))
            if finding.fix:
                lines.append(f"{INDENT}fix: {finding.fix}")
    errors = sum(f.severity == ERROR for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    status = exit_status(f.severity for f in findings)
    lines.append("")
    lines.append(f"{errors} error{'s' * (errors != 1)}, {warnings} warning"
                 f"{'s' * (warnings != 1)} (exit status {status})")
    return "\n".join(lines)


def as_json(findings: list[Finding], readings: Readings) -> str:
    return json.dumps({"status": status_word(findings),
                       "exit_status": exit_status(f.severity for f in findings),
                       "findings": [asdict(f) for f in findings],
                       "readings": asdict(readings)}, indent=2)
