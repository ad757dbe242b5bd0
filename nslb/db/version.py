"""A token that changes whenever anything is committed to the database, by anyone.

SQLite answers `PRAGMA data_version` with a number that changes when another connection
(of this process or any other: `nslb` commands, an operator's sqlite3) committed since the
asking connection last asked. Asked on a connection of its own that never writes, every
commit counts. A read made after the token was taken sees at least what the token stands
for, so an answer kept under a token is current while the token is unchanged.

PostgreSQL has no such cheap, exact counter (several controllers commit there, and their
notifications arrive after their clients may have seen the commit): None, nothing may be
kept.
"""

from __future__ import annotations

import sqlite3
import threading


class DataVersion:
    """`current()`: the token (None when the database cannot give one)."""

    def __init__(self, sqlite_path: str | None) -> None:
        self._path = sqlite_path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def current(self) -> int | None:
        if self._path is None:
            return None
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(self._path, check_same_thread=False,
                                                 isolation_level=None, timeout=30)
                return int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                self.close_locked()
                return None

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
