"""The compute flavor guard on PostgreSQL: a compute flavor delete racing an Octavia
flavor profile create that names it (on SQLite the single writer serialises them). Run in
both orders: without the profile check's shared row lock and the delete's exclusive one,
the first order deletes a flavor a committed profile names, the second commits a profile
naming a flavor that is gone."""

from __future__ import annotations

import json
import threading
import time

import pytest
from test_flavors_postgres import HOLD, _race
from test_postgres import cluster, db  # noqa: F401  (PostgreSQL replaces conftest's SQLite)

from nslb.api.compute.routes import remove_flavor
from nslb.api.octavia.flavorprofiles import checked
from nslb.db import compute
from nslb.db.engine import Database
from nslb.db.tables import compute_flavor
from nslb.model.resources import FlavorProfile, utcnow

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
DATA = json.dumps({"compute_flavor": "gold"})


def _flavor(database: Database) -> None:
    with database.write() as session:
        session.execute(compute_flavor.insert().values(
            id="gold", name="amp.gold", ram=256, vcpus=1, disk=0, is_public=True,
            description=None, extra_specs={}, created_at=utcnow()))


def _create_profile(database: Database, hold: float = 0.0,
                    locked: threading.Event | None = None) -> None:
    """What flavor profile create does, in one transaction."""
    with database.write() as session:
        checked(session, "amphora", DATA)
        if locked is not None:
            locked.set()
        time.sleep(hold)
        session.add(FlavorProfile(name="gold-pair", provider_name="amphora",
                                  flavor_data=DATA))


def _delete(database: Database, hold: float = 0.0,
            locked: threading.Event | None = None) -> None:
    with database.write() as session:
        remove_flavor(session, "gold")
        if locked is not None:
            locked.set()
        time.sleep(hold)


def _state(database: Database) -> tuple[bool, list[str]]:
    with database.read() as session:
        return (compute.flavor(session, "gold") is not None,
                [name for _, name in compute.profiles_naming(session, "gold")])


def test_a_delete_racing_a_profile_create_waits_and_sees_it(db: Database) -> None:  # noqa: F811
    _flavor(db)
    waited, error = _race(lambda locked: _create_profile(db, HOLD, locked),
                          lambda: _delete(db))
    assert error is not None and error.startswith(
        "Flavor gold is in use by Octavia flavor profile(s) gold-pair (")
    assert waited >= HOLD * 0.8
    assert _state(db) == (True, ["gold-pair"])


def test_a_profile_create_racing_a_delete_waits_and_finds_no_flavor(db: Database) -> None:  # noqa: F811
    _flavor(db)
    waited, error = _race(lambda locked: _delete(db, HOLD, locked),
                          lambda: _create_profile(db))
    assert error == "Nova flavor gold not found."
    assert waited >= HOLD * 0.8
    assert _state(db) == (False, [])
