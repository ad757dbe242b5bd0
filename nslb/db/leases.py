"""Leases: each unit of work is done by one controller of several sharing a database.

A unit is a name: "lb:<id>" (everything the worker and the health loop do for one load
balancer), "outbox" (publishing the events), "floating" (the floating IP routers). A
controller claims a unit by writing its id and an expiry into the unit's row of
`controller_lease`; it keeps what it holds by renewing them all with one UPDATE every
`ttl / 3` seconds, and gives them back on a clean stop. A controller killed with -9 (or
cut off from the database) stops renewing, its leases expire after `ttl` seconds, and
another controller takes them over and redoes the work from the database state, which is
safe because every job is idempotent (the generation counters, docs/architecture.md).

Why leases and not row locks held for the duration of a job: a job drives the data plane
for seconds with no transaction open, and a periodic resync or the health loop of an LB
must stay with one controller between jobs. SELECT ... FOR UPDATE SKIP LOCKED is used
where it fits, when claiming: a controller never waits for another's claim transaction,
it skips those rows and looks again later.

Times are the database's clock (`db_now`), never a controller's, so a skewed host cannot
steal early. Each controller's own view of what it holds (`holds`) ends a safety margin
before the expiry it wrote, measured from before the write on its monotonic clock: work
is only started under a lease the database still grants. `term` counts the owners a unit
had; `fence` re-checks owner, term and expiry inside the transaction that settles a job,
so a controller that lost its lease (paused longer than `ttl`) cannot settle over its
successor.

SQLite is one process: `SoloLeases` answers everything is ours without a query.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import case, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from nslb.db.engine import Database
from nslb.db.tables import controller_lease as lease

log = logging.getLogger(__name__)
DEFAULT_TTL = 10.0
# A holder considers its lease over this share of `ttl` after the renewal that set it.
SAFE_SHARE = 0.75
CHUNK = 500


class Leases(Protocol):
    """What the worker, the health loop and the publishers ask."""

    owner: str
    shared: bool

    def claim(self, names: Iterable[str]) -> set[str]:
        """Take the free or expired units among `names`; the ones this controller holds."""

    def holds(self, name: str) -> bool:
        """Whether this controller holds the unit now (no query)."""

    def held(self) -> set[str]:
        """The units recorded as this controller's (none for SoloLeases: everything is)."""

    def fence(self, session: Session, name: str) -> bool:
        """In a write transaction: whether the unit is still ours, and keep it ours until
        the transaction ends (its row is locked)."""

    def release(self, names: Iterable[str]) -> None:
        """Give units back (an LB deleted, a clean stop)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def db_now(session: Session) -> float:
    """Seconds since the epoch on the database server's clock."""
    if session.get_bind().dialect.name == "postgresql":
        return float(session.scalar(text("SELECT extract(epoch FROM clock_timestamp())")))
    return float(session.scalar(text("SELECT (julianday('now') - 2440587.5) * 86400.0")))


def serialize(session: Session, key: str) -> None:
    """Hold a transaction-scoped lock named `key` until the transaction ends (PostgreSQL;
    SQLite has one writer at a time anyway): controllers starting together migrate and
    bootstrap one after the other, failover plans see each other's decisions."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"nslb.serialize:{key}".encode()).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": int.from_bytes(digest[:8], "big", signed=True)})


class SoloLeases:
    """One controller on SQLite: every unit is ours, nothing is written."""

    shared = False

    def __init__(self, owner: str = "solo") -> None:
        self.owner = owner

    def claim(self, names: Iterable[str]) -> set[str]:
        return set(names)

    def holds(self, name: str) -> bool:
        return True

    def held(self) -> set[str]:
        return set()

    def fence(self, session: Session, name: str) -> bool:
        return True

    def release(self, names: Iterable[str]) -> None:
        """Nothing was written."""

    def start(self) -> None:
        """Nothing to renew."""

    def stop(self) -> None:
        """Nothing to give back."""


@dataclass
class _Held:
    until: float  # monotonic: when this controller stops trusting the lease
    term: int


class SharedLeases:
    """Leases in the `controller_lease` table, renewed by a thread of their own."""

    shared = True

    def __init__(self, db: Database, owner: str, ttl: float = DEFAULT_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ValueError("a lease's ttl must be positive")
        self.db = db
        self.owner = owner
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}
        self._busy: dict[str, float] = {}  # name -> monotonic time worth asking again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- claiming ----------------------------------------------------------------------

    def claim(self, names: Iterable[str]) -> set[str]:
        wanted = sorted(set(names))
        now = self.clock()
        with self._lock:
            out = {n for n in wanted if n in self._held and self._held[n].until > now}
            ask = [n for n in wanted if n not in out and self._busy.get(n, 0.0) <= now]
        for start in range(0, len(ask), CHUNK):
            out |= self._claim(ask[start:start + CHUNK])
        return out

    def _claim(self, names: list[str]) -> set[str]:
        started = self.clock()
        me = self.owner
        with self.db.write(quiet=True) as session:
            now = db_now(session)
            expiry = now + self.ttl
            _insert_missing(session, [{"name": n, "owner": me, "expires_at": expiry,
                                       "acquired_at": now, "term": 1} for n in names])
            takeable = (select(lease.c.name)
                        .where(lease.c.name.in_(names),
                               or_(lease.c.owner == me, lease.c.expires_at < now))
                        .with_for_update(skip_locked=True))
            free = list(session.scalars(takeable))
            if free:
                mine = lease.c.owner == me
                session.execute(update(lease).where(lease.c.name.in_(free)).values(
                    owner=me, expires_at=expiry,
                    term=case((mine, lease.c.term), else_=lease.c.term + 1),
                    acquired_at=case((mine, lease.c.acquired_at), else_=now)))
            rows = session.execute(select(lease.c.name, lease.c.owner, lease.c.expires_at,
                                          lease.c.term).where(lease.c.name.in_(names))).all()
        out = set()
        with self._lock:
            for row in rows:
                if row.owner == me and row.expires_at >= expiry - 1e-6:
                    if row.name not in self._held:
                        log.debug("controller %s took %s (term %d)", me, row.name, row.term)
                    self._held[row.name] = _Held(started + self.ttl * SAFE_SHARE, row.term)
                    self._busy.pop(row.name, None)
                    out.add(row.name)
                else:  # another's, or being claimed right now: ask when it could be free
                    self._held.pop(row.name, None)
                    wait = max(row.expires_at - now, 0.0) + 0.1 if row.owner != me else 0.1
                    self._busy[row.name] = started + min(wait, self.ttl)
        return out

    def holds(self, name: str) -> bool:
        with self._lock:
            held = self._held.get(name)
            return held is not None and held.until > self.clock()

    def held(self) -> set[str]:
        """Every unit this controller holds now."""
        now = self.clock()
        with self._lock:
            return {n for n, h in self._held.items() if h.until > now}

    def fence(self, session: Session, name: str) -> bool:
        with self._lock:
            held = self._held.get(name)
        if held is None:
            return False
        row = session.execute(select(lease.c.owner, lease.c.term, lease.c.expires_at)
                              .where(lease.c.name == name).with_for_update()).first()
        return row is not None and row.owner == self.owner and row.term == held.term \
            and row.expires_at > db_now(session)

    # --- keeping -----------------------------------------------------------------------

    def renew(self) -> set[str]:
        """Push the expiry of every unit still ours; the units lost (expired before this
        renewal, so possibly taken by another controller)."""
        started = self.clock()
        me = self.owner
        with self.db.write(quiet=True) as session:
            now = db_now(session)
            session.execute(update(lease).where(lease.c.owner == me, lease.c.expires_at >= now)
                            .values(expires_at=now + self.ttl))
            kept = {r.name: r.term for r in session.execute(
                select(lease.c.name, lease.c.term).where(lease.c.owner == me,
                                                          lease.c.expires_at >= now))}
        with self._lock:
            lost = {n for n, h in self._held.items() if kept.get(n) != h.term}
            for name in lost:
                del self._held[name]
            for held in self._held.values():
                held.until = started + self.ttl * SAFE_SHARE
            stale = [n for n, t in self._busy.items() if t < started - self.ttl]
            for name in stale:
                del self._busy[name]
        if lost:
            log.warning("controller %s lost %d leases (not renewed in time): %s", me,
                        len(lost), ", ".join(sorted(lost)[:10]))
        return lost

    def release(self, names: Iterable[str]) -> None:
        gone = sorted(set(names))
        if not gone:
            return
        with self._lock:
            for name in gone:
                self._held.pop(name, None)
                self._busy.pop(name, None)
        for start in range(0, len(gone), CHUNK):
            with self.db.write(quiet=True) as session:
                session.execute(delete(lease).where(lease.c.name.in_(gone[start:start + CHUNK]),
                                                    lease.c.owner == self.owner))

    def release_all(self) -> None:
        with self._lock:
            self._held.clear()
        with self.db.write(quiet=True) as session:
            session.execute(delete(lease).where(lease.c.owner == self.owner))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nslb-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and give everything back, so the others take over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.ttl)
        try:
            self.release_all()
        except Exception:  # the database is gone: the leases expire instead
            log.exception("giving back the leases of controller %s failed", self.owner)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception:  # the database: what we hold lapses locally, retried soon
                log.exception("renewing the leases of controller %s failed", self.owner)


def _insert_missing(session: Session, rows: list[dict[str, object]]) -> None:
    """INSERT the rows whose name is not there yet, ignoring the others."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(lease).values(rows).on_conflict_do_nothing(index_elements=["name"])
    session.execute(stmt)


def for_database(db: Database, owner: str, ttl: float = DEFAULT_TTL) -> Leases:
    """Shared leases where several controllers can share the database; solo on SQLite."""
    if db.is_sqlite:
        return SoloLeases(owner)
    return SharedLeases(db, owner, ttl)

