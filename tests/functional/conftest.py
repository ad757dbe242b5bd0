"""The real HTTP app in-process on a fresh SQLite database, with the noop driver.

The worker does not run in the background here: tests call `worker.drain()` when they want
the reconciler to act, so PENDING_* states can be asserted deterministically.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.health.monitor import HealthMonitor
from nslb.secrets.store import SecretStore
from nslb.worker.loop import Worker
from tests.migrated import migrated_sqlite

PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"
OTHER_PROJECT = "aa1c8f1e4b5a4c6d9e0f112233445599"
PHYSNETS = ["physnet1:nslbt-br1", "physnet2:nslbt-br2"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = migrated_sqlite(tmp_path / "nslb.db")
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path, physnet=list(PHYSNETS))


@pytest.fixture
def driver() -> NoopDriver:
    return NoopDriver()


@pytest.fixture
def worker(db: Database, driver: NoopDriver, settings: Settings) -> Iterator[Worker]:
    w = Worker(db, driver, resync_interval=3600,
               secrets=SecretStore.open(db, settings.state_dir))
    yield w
    w.stop()


@pytest.fixture
def health(db: Database, driver: NoopDriver) -> HealthMonitor:
    """Call health.run_once() to fold the driver's observation into operating statuses."""
    return HealthMonitor(db, driver)


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings, db)
    with TestClient(app, headers={"X-Project-Id": PROJECT}) as test_client:
        yield test_client
