"""The outbox and its publisher on a real database, with sinks that stand in for a broker's
answers (the real broker is in tests/integration/test_events_kafka.py): delivered in seq
order, per LB never past a failure, sent again after a crash between send and mark, a
stuck broker never in the API's way, and the outbox bounded."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from octavia_helpers import LB_URL, active_lb, create_listener
from sqlalchemy import func, select, text
from starlette.testclient import TestClient

from nslb.db.engine import Database
from nslb.db.tables import event_outbox
from nslb.events import envelope, outbox
from nslb.events.catalog import Event
from nslb.events.kafka import KafkaSink
from nslb.events.outbox import Pending
from nslb.events.publisher import Publisher
from nslb.events.target import parse
from nslb.worker.loop import Worker


class Recorder:
    """A broker that acknowledges everything except the seqs in `refuse`."""

    def __init__(self) -> None:
        self.sent: list[Pending] = []
        self.refuse: set[int] = set()

    def send(self, batch: list[Pending]) -> set[int]:
        self.sent.extend(batch)
        return {p.seq for p in batch} - self.refuse

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass

    def types(self) -> list[tuple[str | None, str]]:
        return [(p.loadbalancer_id, envelope.deserialize(p.body)["event_type"])
                for p in self.sent]


class Stuck(Recorder):
    """A broker that takes every connection and never answers until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, batch: list[Pending]) -> set[int]:
        self.entered.set()
        self.release.wait(30)
        return super().send(batch)


def record(db: Database, *events: tuple[str | None, str]) -> None:
    with db.write() as session:
        outbox.record(session, [Event(t, {"n": t}, lb, "p") for lb, t in events])


def waiting(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(event_outbox)
                                  .where(event_outbox.c.delivered_at.is_(None))) or 0)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_events_commit_with_their_transaction_or_not_at_all(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        outbox.record(session, [Event("gone", {}, "a", "p")])
        raise RuntimeError("the change failed")
    assert waiting(db) == 0
    with db.write() as session:
        outbox.record(session, [Event("kept", {}, "a", "p")])
        with contextlib.suppress(ValueError), session.begin_nested():
            session.execute(text("SELECT 1"))
            raise ValueError("a savepoint rolled back, the transaction goes on")
    assert waiting(db) == 1


def test_without_a_broker_events_are_kept_for_recent_and_marked_delivered(
        db: Database) -> None:
    record(db, ("a", "e1"), ("b", "e2"))
    assert Publisher(db, None).run_once() == 2
    assert waiting(db) == 0
    with db.read() as session:
        recent = outbox.recent(session, "p")
    assert [(r["event_type"], r["delivered"]) for r in recent] == [("e2", True), ("e1", True)]
    with db.read() as session:
        assert [r["event_type"] for r in outbox.recent(session, "p", loadbalancer_id="a")] == [
            "e1"]
        assert outbox.recent(session, "other") == []


def test_events_go_out_in_seq_order_and_an_lb_never_past_its_first_failure(
        db: Database, recorder: Recorder) -> None:
    record(db, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3"))
    publisher = Publisher(db, recorder)
    recorder.refuse = {2}  # b1 is not acknowledged; b2 is, but must wait for it
    assert publisher.run_once() == 3
    assert recorder.types() == [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"),
                                ("a", "a3")]
    recorder.refuse, recorder.sent = set(), []
    assert publisher.run_once() == 2
    assert recorder.types() == [("b", "b1"), ("b", "b2")]  # b's order kept on the retry
    assert waiting(db) == 0


def test_a_crash_between_send_and_mark_sends_the_same_messages_again(
        db: Database, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    record(db, ("a", "a1"), ("a", "a2"))

    def crash(*_: object, **__: object) -> None:
        raise RuntimeError("killed before the delivery was recorded")

    with monkeypatch.context() as m:
        m.setattr(outbox, "delivered", crash)
        with pytest.raises(RuntimeError):
            Publisher(db, recorder).run_once()
    first = [p.body for p in recorder.sent]
    recorder.sent = []
    assert Publisher(db, recorder).run_once() == 2  # the restarted server
    assert [p.body for p in recorder.sent] == first  # same bytes, same message_ids
    assert waiting(db) == 0


def test_a_broker_that_never_answers_is_never_in_the_apis_way(
        client: TestClient, worker: Worker, db: Database) -> None:
    stuck = Stuck()
    publisher = Publisher(db, stuck, poll=0.05)
    publisher.start()
    try:
        lb = active_lb(client, worker)
        assert stuck.entered.wait(10)  # the publisher is inside a send that hangs
        create_listener(client, lb["id"])
        worker.drain()
        for port in (81, 82):
            assert client.get(f"{LB_URL}/{lb['id']}").json()["loadbalancer"][
                "provisioning_status"] == "ACTIVE"
            create_listener(client, lb["id"], protocol_port=port)
            worker.drain()
        assert waiting(db) >= 4  # all of it recorded, none of it delivered
    finally:
        stuck.release.set()
        publisher.stop()
    Publisher(db, stuck).run_once()
    assert ("octavia.listener.create.end" in {t for _, t in stuck.types()})
    assert waiting(db) == 0


def test_a_stop_does_not_wait_for_a_broker_that_is_not_there() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = KafkaSink(parse(f"kafka://127.0.0.1:{port}/t"), timeout=600)
    result: list[set[int]] = []
    sending = threading.Thread(target=lambda: result.append(sink.send([Pending(1, "a", "x")])))
    sending.start()
    sending.join(0.5)
    assert sending.is_alive()  # waiting for a broker that is not there
    sink.interrupt()
    sending.join(30)
    assert not sending.is_alive() and result == [set()]  # returned, nothing acknowledged
    sink.close()


def test_the_outbox_is_bounded_and_says_what_it_dropped(db: Database) -> None:
    record(db, *[("a", f"e{i}") for i in range(8)])
    with db.write() as session:
        pruned = outbox.prune(session, timedelta(hours=1), backlog=5)
    assert pruned.dropped == 4  # room for the event that tells about it
    with db.read() as session:
        left = outbox.pending(session, 100)
    told = [envelope.deserialize(p.body) for p in left]
    assert [m["event_type"] for m in told] == ["e4", "e5", "e6", "e7", outbox.DROPPED]
    assert told[-1]["payload"]["count"] == 4 and told[-1]["priority"] == "ERROR"


def test_delivered_events_are_pruned_after_the_retention(db: Database) -> None:
    record(db, ("a", "old"), ("a", "new"))
    with db.write() as session:
        first, second = (p.seq for p in outbox.pending(session, 10))
        outbox.delivered(session, [first], at=outbox.now() - timedelta(hours=2))
        outbox.delivered(session, [second])
        pruned = outbox.prune(session, timedelta(hours=1), backlog=100)
    assert (pruned.delivered, pruned.dropped) == (1, 0)
    with db.read() as session:
        assert [r["event_type"] for r in outbox.recent(session, None)] == ["new"]


@pytest.fixture(autouse=True)
def _no_stray_bells() -> Iterator[None]:
    yield
    assert outbox._bells == []  # every publisher started here was stopped
