"""db/unchanged.py: a periodic read is answered from memory only while nothing was written
and the answer is young; the Database counts its write transactions that changed a row,
and those rolled back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from nslb.db.engine import Database
from nslb.db.unchanged import UnlessWritten


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'u.db'}")
    with database.write() as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
    return database


def _count(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_the_answer_is_kept_until_a_write_ends(db: Database) -> None:
    clock = Clock()
    cache: UnlessWritten[int] = UnlessWritten(db, max_age=5.0, clock=clock)
    reads = []

    def read() -> int:
        reads.append(1)
        return _count(db)

    assert cache.get(read) == 0
    assert cache.get(read) == 0
    assert len(reads) == 1  # nothing written: no query
    with db.write() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    assert cache.get(read) == 1
    assert len(reads) == 2


def test_a_rolled_back_write_counts_too(db: Database) -> None:
    before = db.writes
    with pytest.raises(RuntimeError), db.write() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("abort")
    assert db.writes == before + 1
    assert _count(db) == 0


def test_a_write_that_changed_nothing_is_not_counted(db: Database) -> None:
    """A settle that writes what already is (an UPDATE of no row, no statement at all)
    must not make every periodic read of the host read again."""
    before = db.writes
    with db.write():
        pass
    with db.write() as session:
        session.execute(text("UPDATE t SET v = 2 WHERE v = 99"))
    assert db.writes == before
    with db.write() as session:
        session.execute(text("INSERT INTO t VALUES (3)"))
    with db.write() as session:
        session.execute(text("DELETE FROM t WHERE v = 3"))
    assert db.writes == before + 2


def test_an_old_answer_is_read_again_for_writers_elsewhere(db: Database) -> None:
    clock = Clock()
    cache: UnlessWritten[int] = UnlessWritten(db, max_age=5.0, clock=clock)
    assert cache.get(lambda: _count(db)) == 0
    other = Database(db.url)  # another process's writes are not counted here
    with other.write() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    clock.now += 4.9
    assert cache.get(lambda: _count(db)) == 0
    clock.now += 0.2
    assert cache.get(lambda: _count(db)) == 1
    other.dispose()


def test_forget_reads_again(db: Database) -> None:
    cache: UnlessWritten[int] = UnlessWritten(db)
    answers = iter([1, 2])
    assert cache.get(lambda: next(answers)) == 1
    cache.forget()
    assert cache.get(lambda: next(answers)) == 2
