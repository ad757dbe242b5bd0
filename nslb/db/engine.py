"""Engine and sessions. SQLite runs in WAL mode with IMMEDIATE write transactions, so two
writers never deadlock upgrading a read lock; a process-wide lock keeps SQLite writers from
spinning on its busy handler. PostgreSQL needs neither and gets row locks instead.

On PostgreSQL several controllers may share the database: every write transaction ends
with a NOTIFY on `CHANNEL` carrying the writer's `origin`, delivered with its commit, and
db/changes.py counts the other controllers' ones into `writes` (so a periodic read kept
while nothing was written, db/unchanged.py, is read again at once).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from nslb.db.tables import map_models
from nslb.db.version import DataVersion

CHANNEL = "nslb_writes"
RESYNC_CHANNEL = "nslb_resync"  # payload: an LB id whose lease holder should resync it


class Database:
    """Owns the engine; hands out short read and write sessions."""

    def __init__(self, url: str) -> None:
        map_models()
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            _prepare_sqlite_file(url)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        self._write_lock = threading.RLock() if self.is_sqlite else None
        # Write transactions committed through this object (see `writes`).
        self._writes_done = 0
        # Who writes, in the NOTIFY that ends a write on PostgreSQL (the controller id).
        self.origin = f"pid-{os.getpid()}"
        self._count_lock = threading.Lock()
        # A read sees one snapshot of the database: on PostgreSQL's default (READ
        # COMMITTED) each statement of a session sees the commits made since the one
        # before, so a bundle rendered for an LB's generation could hold objects of the
        # next one, and two controllers would serve different configs under one generation
        # number. SQLite's read transaction already is one snapshot.
        reads = self.engine if self.is_sqlite else self.engine.execution_options(
            isolation_level="REPEATABLE READ")
        self._reads = sessionmaker(reads, expire_on_commit=False)
        self._writes = sessionmaker(
            self.engine.execution_options(nslb_write=True), expire_on_commit=False
        )
        database = self.engine.url.database
        plain_file = bool(database) and database != ":memory:" and \
            not str(database).startswith("file:")
        self.version = DataVersion(database if self.is_sqlite and plain_file else None)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; objects stay usable after it closes."""
        with self._reads() as session:
            yield session

    @contextmanager
    def write(self, quiet: bool = False) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception.
        `quiet`: it writes nothing a periodic read depends on (leases, heartbeats'
        amphora_health), so it is neither counted in `writes` nor announced to other
        controllers."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        changed = True  # unless it is known that nothing was: a failed one is counted
        try:
            with self._writes() as session, session.begin():
                before = self._changes(session)
                yield session
                changed = self._changed(session, before)
                if changed and not quiet and not self.is_sqlite:
                    session.execute(text("SELECT pg_notify(:channel, :origin)"),
                                    {"channel": CHANNEL, "origin": self.origin})
        finally:
            if changed and not quiet:
                with self._count_lock:  # after the commit (or rollback): see `writes`
                    self._writes_done += 1
            if lock is not None:
                lock.release()

    def _changes(self, session: Session) -> int:
        """SQLite: the rows this connection has inserted, updated or deleted so far."""
        if not self.is_sqlite:
            return 0
        return int(session.execute(text("SELECT total_changes()")).scalar_one())

    def _changed(self, session: Session, before: int) -> bool:
        """Whether the transaction wrote anything: a write that settled what already was
        (a worker's resync after a restart, an unchanged status) must not make every
        periodic read of the host read again (db/unchanged.py). PostgreSQL assigns a
        transaction id at its first write (a row lock counts: `FOR UPDATE`)."""
        if self.is_sqlite:
            return self._changes(session) != before
        return session.execute(text("SELECT txid_current_if_assigned()")).scalar() is not None

    def announce(self, channel: str, payload: str) -> None:
        """Tell the other controllers something (PostgreSQL NOTIFY; nothing on SQLite)."""
        if self.is_sqlite:
            return
        with self._writes() as session, session.begin():
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": channel, "payload": payload})

    def written_elsewhere(self) -> None:
        """Another controller committed a write (db/changes.py): count it in `writes`."""
        with self._count_lock:
            self._writes_done += 1

    @property
    def writes(self) -> int:
        """How many write transactions that changed a row this process has ended, plus the
        other controllers' ones it was told about (PostgreSQL). A loop that reads the same
        rows every second reads this first and keeps its last answer while it is unchanged
        (and it re-reads at least every few seconds anyway, for writers it is not told
        about): an idle host then runs no query at all."""
        return self._writes_done

    def dispose(self) -> None:
        self.version.close()
        self.engine.dispose()


def _prepare_sqlite_file(url: str) -> None:
    """Create the database file readable by its owner only: it holds password hashes.

    SQLite gives its -wal and -shm files the database file's mode, so they follow.
    """
    path = url.split("///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("nslb_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
