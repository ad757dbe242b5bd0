"""The failed-login throttle counted in the database, for controllers sharing one.

The same rules as identity/throttle.py (per (source, user) and per source, a doubling
delay past `free` attempts, refused at once, never parked; a success clears the
(source, user) record), applied in one short write transaction per attempt that locks
the two records (SELECT ... FOR UPDATE), so attempts spread over several controllers are
counted as if they went to one. Times are the database's clock. The rows hold salted
digests only (the salt is made once, in `cluster_state`); rows past their window are
pruned every PRUNE_EVERY attempts, and beyond `max_entries` the least recently seen go.
One transaction per attempt is nothing next to the argon2 check an admitted attempt
costs.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nslb.db.cluster_state import shared_value
from nslb.db.engine import Database
from nslb.db.leases import db_now
from nslb.db.tables import login_throttle as table
from nslb.identity.throttle import MAX_ENTRIES, LoginThrottle, _Record

PRUNE_EVERY = 100


class SharedThrottle(LoginThrottle):
    def __init__(self, db: Database, free: int = 5, window: float = 300.0, cap: float = 60.0,
                 base: float = 1.0, source_free: int = 100,
                 max_entries: int = MAX_ENTRIES) -> None:
        super().__init__(free, window, cap, base, source_free, max_entries)
        self.db = db
        self._salt = bytes.fromhex(shared_value(db, "login_throttle_salt",
                                                lambda: secrets.token_hex(16)))
        self._admitted = 0

    @property
    def size(self) -> int:
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(table)) or 0)

    def _keys(self, source: str, user: str) -> list[str]:
        return [self._digest(source, user).hex(), self._digest(source, None).hex()]

    def admit(self, source: str, user: str) -> float:
        keys = self._keys(source, user)
        with self.db.write(quiet=True) as session:
            now = db_now(session)
            records = self._locked(session, keys, now)
            fresh = [self.fresh(records.get(k), now) for k in keys]
            wait = max(r.closed_until - now for r in fresh)
            if wait > 0:
                return wait
            for record, free in zip(fresh, (self.free, self.source_free), strict=True):
                self._count(record, free, now)
            for key, record in zip(keys, fresh, strict=True):
                session.execute(update(table).where(table.c.key == key).values(
                    count=record.count, closed_until=record.closed_until, seen=record.seen))
            self._admitted += 1
            if self._admitted % PRUNE_EVERY == 0:
                self._prune(session, now)
        return 0.0

    def succeeded(self, source: str, user: str) -> None:
        pair, alone = self._keys(source, user)
        with self.db.write(quiet=True) as session:
            session.execute(delete(table).where(table.c.key == pair))
            self._take_back(session, [alone])

    def refund(self, source: str, user: str) -> None:
        with self.db.write(quiet=True) as session:
            self._take_back(session, sorted(self._keys(source, user)))

    @staticmethod
    def _take_back(session: Session, keys: list[str]) -> None:
        session.execute(update(table).where(table.c.key.in_(keys), table.c.count > 0)
                        .values(count=table.c.count - 1))

    @staticmethod
    def _locked(session: Session, keys: list[str], now: float) -> dict[str, _Record]:
        """The two records, created if missing and locked until the transaction ends."""
        module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(module.insert(table).values(
            [{"key": k, "count": 0, "closed_until": 0.0, "seen": now} for k in sorted(keys)])
            .on_conflict_do_nothing(index_elements=["key"]))
        rows = session.execute(select(table).where(table.c.key.in_(keys))
                               .order_by(table.c.key).with_for_update())
        return {r.key: _Record(r._mapping["count"], r.closed_until, r.seen) for r in rows}

    def _prune(self, session: Session, now: float) -> None:
        session.execute(delete(table).where(table.c.seen < now - self.window,
                                            table.c.closed_until <= now))
        newest = (select(table.c.seen).order_by(table.c.seen.desc())
                  .offset(self.max_entries).limit(1)).scalar_subquery()
        session.execute(delete(table).where(table.c.seen <= newest))
