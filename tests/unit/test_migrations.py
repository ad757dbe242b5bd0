"""Alembic migrations against SQLite: head matches the SQLAlchemy metadata, upgrade is
idempotent, and downgrade to base and back works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from nslb.db.engine import Database
from nslb.db.migrate import alembic_config, current_revision, upgrade
from nslb.db.tables import metadata


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'migrations.db'}")
    yield database
    database.dispose()


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        ctx = MigrationContext.configure(connection, opts={"compare_type": True,
                                                           "compare_server_default": True})
        return list(compare_metadata(ctx, metadata))


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def _downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db.url)
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def test_single_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_empty_database_upgrades_to_head_matching_the_metadata(db: Database) -> None:
    assert current_revision(db) is None
    assert _tables(db) == set()
    upgrade(db)
    assert current_revision(db) == _head()
    assert _tables(db) == set(metadata.tables)
    assert _diff(db) == []


def test_upgrade_is_idempotent(db: Database) -> None:
    upgrade(db)
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO quota (project_id, loadbalancer) VALUES ('p', 3)")
    upgrade(db)
    upgrade(db, "head")
    assert current_revision(db) == _head()
    assert _diff(db) == []
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT project_id, loadbalancer FROM quota").all()
    assert [tuple(r) for r in rows] == [("p", 3)]


def test_comparison_notices_drift(db: Database) -> None:
    """The metadata comparison is not vacuous: a dropped index shows up as a difference."""
    upgrade(db)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_member_project_id")
    assert [d[0] for d in _diff(db) if isinstance(d, tuple)] == ["add_index"]


def test_downgrade_to_base_and_back(db: Database) -> None:
    upgrade(db)
    _downgrade(db, "base")
    assert current_revision(db) is None
    assert _tables(db) == set()
    upgrade(db)
    assert current_revision(db) == _head()
    assert _diff(db) == []


def test_each_revision_steps_up_and_down(db: Database) -> None:
    """Walk the history one revision at a time (meaningful once there are several)."""
    script = ScriptDirectory.from_config(alembic_config(db.url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    for rev in revisions:
        upgrade(db, rev)
        assert current_revision(db) == rev
    for rev in reversed(revisions):
        assert current_revision(db) == rev
        _downgrade(db, "-1")
    assert current_revision(db) is None
    assert _tables(db) == set()


def test_0004_makes_every_load_balancer_one_standalone_amphora(db: Database) -> None:
    upgrade(db, "0003")
    with db.engine.begin() as connection:
        for lb_id, status, applied in (("lb-live", "ACTIVE", 7), ("lb-err", "ERROR", 3),
                                       ("lb-gone", "DELETED", 1)):
            connection.exec_driver_sql(
                "INSERT INTO load_balancer (id, project_id, name, description, "
                "admin_state_up, provisioning_status, operating_status, tags, created_at, "
                "vip_address, vip_port_id, vip_subnet_id, vip_network_id, provider, "
                "generation, applied_generation) VALUES (?, 'p', '', '', 1, ?, 'ONLINE', "
                "'[]', '2026-11-22 00:00:00', '10.0.0.5', 'port', 'sub', 'net', 'amphora', "
                "?, ?)", (lb_id, status, applied, applied))
    upgrade(db)
    with db.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT id, loadbalancer_id, role, status, ha_ip, ha_port_id, applied_generation "
            "FROM amphora ORDER BY id").all()
    assert [tuple(r) for r in rows] == [
        ("lb-err", "lb-err", "STANDALONE", "ALLOCATED", "10.0.0.5", "port", 3),
        ("lb-live", "lb-live", "STANDALONE", "ALLOCATED", "10.0.0.5", "port", 7)]
    assert _diff(db) == []
