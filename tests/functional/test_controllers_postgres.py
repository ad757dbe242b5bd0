"""What several controllers share, on a real PostgreSQL server: other controllers' writes
heard as they commit (db/changes.py), resyncs announced to the lease holder, and claims
racing in two transactions at once (db/leases.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from nslb.db.changes import ChangeFeed
from nslb.db.engine import RESYNC_CHANNEL, Database
from nslb.db.leases import SharedLeases
from nslb.db.migrate import upgrade
from tests.functional.test_postgres import Cluster, cluster  # noqa: F401 - fixture

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


@pytest.fixture
def two(cluster: Cluster) -> Iterator[tuple[Database, Database]]:  # noqa: F811
    url = cluster.url(cluster.create_database())
    a, b = Database(url), Database(url)
    a.origin, b.origin = "ct-a", "ct-b"
    upgrade(a)
    yield a, b
    a.dispose()
    b.dispose()


def _until(event: threading.Event) -> bool:
    return event.wait(10)


def test_a_write_through_one_controller_is_heard_by_the_other(
        two: tuple[Database, Database]) -> None:
    a, b = two
    rang = threading.Event()
    resyncs: list[str] = []
    asked = threading.Event()

    def on_resync(lb_id: str) -> None:
        resyncs.append(lb_id)
        asked.set()

    feed = ChangeFeed(b, [rang.set], on_resync=on_resync)
    feed.start()
    try:
        assert _until(rang)  # connecting counts as a change (nothing was heard before)
        rang.clear()
        before = b.writes
        with a.write() as session:  # changed nothing: nobody reads again for it
            session.execute(text("SELECT 1"))
        assert not rang.wait(1.0) and b.writes == before and feed.heard == 0
        with a.write() as session:
            session.execute(text("CREATE TABLE heard (n integer)"))
            session.execute(text("INSERT INTO heard VALUES (1)"))
        assert _until(rang) and b.writes > before and feed.heard == 1
        rang.clear()
        with b.write() as session:  # its own writes are counted where they are made
            session.execute(text("INSERT INTO heard VALUES (2)"))
        a.announce(RESYNC_CHANNEL, "lb-1")
        assert _until(asked) and resyncs == ["lb-1"]
        assert feed.heard == 1
    finally:
        feed.stop()


def test_claims_racing_on_postgres_give_each_unit_one_owner(
        two: tuple[Database, Database]) -> None:
    a, b = two
    names = [f"lb:{i}" for i in range(200)]
    leases = [SharedLeases(a, "ct-a", ttl=30), SharedLeases(b, "ct-b", ttl=30)]
    won: list[set[str]] = [set(), set()]
    start = threading.Barrier(2)

    def claim(i: int) -> None:
        start.wait()
        for _ in range(3):
            won[i] |= leases[i].claim(names)

    threads = [threading.Thread(target=claim, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not won[0] & won[1]
    assert won[0] | won[1] == set(names)
    with a.read() as session:
        owners = dict(session.execute(text("SELECT name, owner FROM controller_lease")).all())
    assert all(owners[n] == ("ct-a" if n in won[0] else "ct-b") for n in names)
