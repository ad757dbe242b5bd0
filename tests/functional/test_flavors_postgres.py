"""Flavors on PostgreSQL: the row locks that keep a load balancer from naming a deleted
flavor when its create races the flavor's delete (on SQLite the single writer serialises
them anyway), and the flavor API tests of test_flavors.py again on a throwaway cluster.

Each race is run in both orders. Without the shared lock of LB create and the exclusive
lock of flavor delete, the first order deletes a flavor a committed load balancer names,
and the second commits a load balancer for a flavor that is gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from conftest import PROJECT
from test_flavors import (  # noqa: F401  (run again here, on PostgreSQL)
    test_a_flavor_in_use_cannot_be_deleted,
    test_flavor_lengths_and_duplicate_names,
    test_lb_with_an_active_standby_flavor_gets_a_pair,
    test_profile_in_use_keeps_its_meaning_and_cannot_go,
)
from test_postgres import cluster, db  # noqa: F401  (PostgreSQL replaces conftest's SQLite)

from nslb.api.faults import ApiError
from nslb.api.octavia import flavors
from nslb.db.engine import Database
from nslb.model.resources import Flavor, FlavorProfile, LoadBalancer, new_id

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
HOLD = 0.5  # how long the first transaction keeps its lock while the second one tries


def _flavor(database: Database) -> str:
    with database.write() as session:
        profile = FlavorProfile(name="fp", provider_name="amphora",
                                flavor_data='{"loadbalancer_topology": "ACTIVE_STANDBY"}')
        session.add(profile)
        session.flush()
        flavor = Flavor(name="ha", flavor_profile_id=profile.id)
        session.add(flavor)
    return flavor.id


def _create_lb(database: Database, flavor_id: str, hold: float = 0.0,
               locked: threading.Event | None = None) -> None:
    """What LB create does with a flavor, in one transaction."""
    with database.write() as session:
        choice = flavors.for_load_balancer(session, flavor_id, None, "SINGLE")
        if locked is not None:
            locked.set()
        time.sleep(hold)
        session.add(LoadBalancer(project_id=PROJECT, vip_address="10.0.0.9",
                                 vip_port_id=new_id(), vip_subnet_id=new_id(),
                                 vip_network_id=new_id(), flavor_id=choice.flavor_id))


def _delete_flavor(database: Database, flavor_id: str, hold: float = 0.0,
                   locked: threading.Event | None = None) -> None:
    with database.write() as session:
        flavors.remove(session, flavor_id)
        if locked is not None:
            locked.set()
        time.sleep(hold)


def _race(first: Callable[[threading.Event], None],
          second: Callable[[], None]) -> tuple[float, str | None]:
    """Run `first` (which sets the event once it holds its lock) and then `second`;
    return how long `second` waited and the message of the error it got, if any."""
    locked = threading.Event()
    holder = threading.Thread(target=first, args=(locked,))
    holder.start()
    assert locked.wait(10)
    started, error = time.monotonic(), None
    try:
        second()
    except ApiError as exc:
        error = exc.message
    waited = time.monotonic() - started
    holder.join(10)
    return waited, error


def _lbs_naming(database: Database, flavor_id: str) -> int:
    with database.read() as session:
        return len([lb for lb in session.query(LoadBalancer).all()
                    if lb.flavor_id == flavor_id])


def test_a_delete_racing_an_lb_create_waits_and_sees_the_lb(db: Database) -> None:  # noqa: F811
    flavor_id = _flavor(db)
    waited, error = _race(lambda locked: _create_lb(db, flavor_id, HOLD, locked),
                          lambda: _delete_flavor(db, flavor_id))
    assert error == f"Flavor {flavor_id} is in use and cannot be modified."
    assert waited >= HOLD * 0.8
    assert _lbs_naming(db, flavor_id) == 1


def test_an_lb_create_racing_a_delete_waits_and_finds_no_flavor(db: Database) -> None:  # noqa: F811
    flavor_id = _flavor(db)
    waited, error = _race(lambda locked: _delete_flavor(db, flavor_id, HOLD, locked),
                          lambda: _create_lb(db, flavor_id))
    assert error == "Validation failure: Invalid flavor_id."
    assert waited >= HOLD * 0.8
    assert _lbs_naming(db, flavor_id) == 0
