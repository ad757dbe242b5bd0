"""Run Alembic migrations programmatically (at service start and in tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from nslb.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory lock key held by the migrating transaction ("nslb" in ASCII).
MIGRATION_LOCK = 0x6E736C62


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class BrokenReferences(RuntimeError):
    """A migration left rows pointing at rows that do not exist."""


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is already there."""
    with _migrating(db) as (cfg, _):
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to `revision` (tests build a previous version's state dir)."""
    with _migrating(db) as (cfg, _):
        command.downgrade(cfg, revision)


@contextmanager
def _migrating(db: Database) -> Iterator[tuple[Config, Connection]]:
    """One transaction for the migrations, with SQLite's foreign keys off meanwhile.

    On SQLite a batch migration copies a table and drops the old one, and with foreign
    keys enforced, dropping a table that other rows point at fails (only on a database
    with data, never on a fresh one). So they are off while the migrations run (SQLite
    ignores the pragma inside a transaction, hence before it), every reference is checked
    before the transaction commits, and they are on again afterwards."""
    cfg = alembic_config(db.url)
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if not sqlite:  # controllers starting together migrate one at a time
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                cfg.attributes["connection"] = connection
                yield cfg, connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise BrokenReferences(f"after the migrations: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    """A pragma on the DBAPI connection itself, outside any transaction."""
    connection.connection.dbapi_connection.execute(statement)  # type: ignore[union-attr]


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
