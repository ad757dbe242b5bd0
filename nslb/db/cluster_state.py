"""Small facts every controller must see the same (the `cluster_state` table).

`Epoch`: a counter bumped after every identity change; a controller's token validation
cache keeps an answer only while the counter is what it was (nslb/identity/service.py),
so a revocation through one controller is honoured by every other one at once. On SQLite
(one controller) the counter lives in memory and costs nothing; on PostgreSQL reading it
is one primary-key lookup per validation, instead of the four lookups and the decryption
a validation costs.

`shared_value`: a value made once by whichever controller comes first (the login
throttle's salt).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nslb.db.engine import Database
from nslb.db.tables import cluster_state


class Epoch(Protocol):
    def current(self) -> int:
        """The counter now."""

    def bump(self, session: Session | None = None) -> None:
        """Something it stands for changed; in `session`'s transaction when given (so a
        kill -9 cannot fall between the change and the bump)."""


class LocalEpoch:
    """One controller: the counter in memory."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    def current(self) -> int:
        return self._value

    def bump(self, session: Session | None = None) -> None:
        with self._lock:
            self._value += 1


class SharedEpoch:
    """The counter in the database row `name`."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        _ensure(db, name, None)

    def current(self) -> int:
        with self.db.read() as session:
            return int(session.scalar(select(cluster_state.c.counter)
                                      .where(cluster_state.c.name == self.name)) or 0)

    def bump(self, session: Session | None = None) -> None:
        stmt = (update(cluster_state).where(cluster_state.c.name == self.name)
                .values(counter=cluster_state.c.counter + 1))
        if session is not None:
            session.execute(stmt)
            return
        with self.db.write() as own:
            own.execute(stmt)


def epoch(db: Database, name: str) -> Epoch:
    return LocalEpoch() if db.is_sqlite else SharedEpoch(db, name)


def shared_value(db: Database, name: str, make: Callable[[], str]) -> str:
    """The value of row `name`, made by `make()` by the first controller to ask."""
    _ensure(db, name, make())
    with db.read() as session:
        value = session.scalar(select(cluster_state.c.value)
                               .where(cluster_state.c.name == name))
    assert value is not None
    return str(value)


def _ensure(db: Database, name: str, value: str | None) -> None:
    """Insert the row unless it is there (another controller may insert it meanwhile)."""
    with db.write(quiet=True) as session:
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(module.insert(cluster_state)
                        .values(name=name, counter=0, value=value)
                        .on_conflict_do_nothing(index_elements=["name"]))
