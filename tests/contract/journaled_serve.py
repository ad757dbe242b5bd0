"""`nslb serve` whose noop driver and event sink write a journal shared by controllers.

Run as `python -m tests.contract.journaled_serve serve ...` (the real CLI and service;
only the driver and the event sink are replaced). For tests/contract/test_controllers.py:
several controllers on one database append every data-plane operation and every event
they publish to one file (NSLB_TEST_JOURNAL), one JSON line each, under an flock.

The journal is also the data plane they share, as remote agents would be: an apply of a
bundle whose hash the amphora already serves (whoever applied it) changes nothing and is
journalled as a "confirm"; one that changes it is an "apply". So the test can check that
no generation is applied twice, and which controller did each LB's work when.
NSLB_TEST_APPLY_SECONDS makes an apply take that long, like a real one, so a kill -9 can
land in the middle of a job.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nslb import service
from nslb.amphora.noop import NoopDriver
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.db.leases import Leases
from nslb.events.outbox import Pending
from nslb.events.publisher import Publisher
from nslb.metrics.registry import Metrics
from nslb.model.bundle import Bundle


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: dict[str, Any]) -> None:
        entry["pid"] = os.getpid()
        with open(self.path, "a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)
            out.write(json.dumps(entry) + "\n")
            out.flush()

    def record_apply(self, entry: dict[str, Any]) -> None:
        """Journal an apply as "apply", or as "confirm" when the amphora already serves
        its hash. Reading what it serves and appending happen under one exclusive lock, as
        an agent serialises the applies of one amphora: two controllers sending the same
        bundle at once (one whose lease was running out, one taking over) change what it
        serves once."""
        entry["pid"] = os.getpid()
        with open(self.path, "a+", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)
            out.seek(0)
            serving = _serving(out, entry["amphora"])
            entry["op"] = "confirm" if serving == entry["hash"] else "apply"
            out.write(json.dumps(entry) + "\n")
            out.flush()


def _serving(lines: Iterable[str], amphora_id: str) -> str | None:
    """The hash the shared data plane serves for the amphora (None: nothing)."""
    current = None
    for line in lines:
        entry = json.loads(line)
        if entry.get("amphora") == amphora_id:
            current = entry["hash"] if entry["op"] in ("apply", "confirm") else None
    return current


class JournalingDriver(NoopDriver):
    def __init__(self, journal: Journal, apply_seconds: float) -> None:
        super().__init__()
        self.journal = journal
        self.apply_seconds = apply_seconds

    def apply(self, bundle: Bundle) -> str:
        started = time.time()
        time.sleep(self.apply_seconds)
        digest = super().apply(bundle)
        self.journal.record_apply({"amphora": bundle.amphora_id,
                                   "lb": bundle.loadbalancer_id,
                                   "generation": bundle.generation, "hash": digest,
                                   "t0": started, "t1": time.time()})
        return digest

    def delete(self, amphora_id: str) -> None:
        started = time.time()
        super().delete(amphora_id)
        self.journal.append({"op": "delete", "amphora": amphora_id, "t0": started,
                             "t1": time.time()})


class JournalSink:
    """Acknowledges every event and journals it."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def send(self, batch: list[Pending]) -> set[int]:
        for item in batch:
            self.journal.append({"op": "publish", "seq": item.seq,
                                 "lb": item.loadbalancer_id})
        return {item.seq for item in batch}

    def interrupt(self) -> None:
        """Nothing waits."""

    def close(self) -> None:
        """Nothing to close."""


def main() -> None:
    journal = Journal(Path(os.environ["NSLB_TEST_JOURNAL"]))
    apply_seconds = float(os.environ.get("NSLB_TEST_APPLY_SECONDS", "0"))

    def make_driver(settings: Settings, metrics: Metrics | None = None) -> JournalingDriver:
        return JournalingDriver(journal, apply_seconds)

    def publisher(settings: Settings, db: Database, claims: Leases | None = None) -> Publisher:
        return Publisher(db, JournalSink(journal), leases=claims, poll=0.2)

    service.make_driver = make_driver  # type: ignore[assignment]
    service.publisher = publisher
    from nslb.cli.main import app

    app(args=sys.argv[1:], prog_name="nslb")


if __name__ == "__main__":
    main()
