"""A migrated SQLite database for a test in a few milliseconds.

Alembic's upgrade of an empty file takes 0.3-0.4 s, and some 700 functional and security
tests each want a fresh database: the migrations run once per test process into a
template here, and each test gets a copy of that file. Tests of the migrations themselves
(unit/test_migrations.py, the PostgreSQL ones) still run them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from nslb.db.engine import Database
from nslb.db.migrate import upgrade

_template: list[Path] = []


def _made() -> Path:
    if not _template:
        directory = Path(tempfile.mkdtemp(prefix="nslb-template-"))
        atexit.register(shutil.rmtree, directory, True)
        path = directory / "nslb.db"
        database = Database(f"sqlite:///{path}")
        upgrade(database)
        with database.engine.connect() as connection:  # everything in the main file
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.dispose()
        _template.append(path)
    return _template[0]


def migrated_sqlite(path: Path) -> Database:
    """A database at `path` (a file that must not exist yet; its directory is made) at
    the migrations' head."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_made(), path)
    os.chmod(path, 0o600)
    return Database(f"sqlite:///{path}")
