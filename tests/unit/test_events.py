"""The pure parts of notifications: oslo.messaging's envelope, the --notify URL, what may
be marked delivered after a partial acknowledgement, and which events a settled change
makes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nslb.cli.main import app
from nslb.config import ConfigError, Settings
from nslb.events import catalog, envelope, payloads
from nslb.events.catalog import Settled
from nslb.events.outbox import Pending
from nslb.events.publisher import accepted
from nslb.events.target import BadNotifyUrl, parse
from nslb.model.enums import ProvisioningStatus as P
from nslb.model.resources import Listener, LoadBalancer, Member, Pool


def test_the_envelope_is_oslo_messagings_2_0_with_the_message_as_a_json_string() -> None:
    note = envelope.Notification("octavia.loadbalancer.create.end", {"a": 1}, "p1",
                                 datetime(2026, 12, 3, 10, 15, 2, 123456), "INFO",
                                 "nslb.host", "m-1")
    value = envelope.serialize(note.message())
    outer = json.loads(value)
    assert set(outer) == {"oslo.version", "oslo.message"} and outer["oslo.version"] == "2.0"
    assert isinstance(outer["oslo.message"], str)
    message = envelope.deserialize(value)
    assert message["timestamp"] == "2026-12-03 10:15:02.123456"
    assert message["message_id"] == "m-1" and message["publisher_id"] == "nslb.host"
    assert message["_context"]["project_id"] == "p1"
    assert message["_context"]["auth_token"] is None
    with pytest.raises(ValueError):
        envelope.Notification("x", {}, None, datetime(2026, 1, 1), "LOUD").message()
    with pytest.raises(ValueError):
        envelope.deserialize(json.dumps({"oslo.version": "1.0", "oslo.message": "{}"}))


@pytest.mark.parametrize("url", [
    "kafka://127.0.0.1:9092/notifications",
    "kafka://a.example:9092,b.example:9093/octavia.notifications.info",
    "kafka://[::1]:9092/t_1-x",
])
def test_notify_urls_that_are_accepted(url: str) -> None:
    target = parse(url)
    assert target.topic and all(":" in s for s in target.servers)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9092/t", "kafka://127.0.0.1/t", "kafka://127.0.0.1:0/t",
    "kafka://127.0.0.1:99999/t", "kafka://user:pw@127.0.0.1:9092/t",
    "kafka://127.0.0.1:9092/", "kafka://127.0.0.1:9092/a/b", "kafka://127.0.0.1:9092/..",
    "kafka://127.0.0.1:9092/t?x=1", "kafka://h;rm:9092/t", "kafka://127.0.0.1:9092/t\n",
])
def test_notify_urls_that_are_refused(url: str) -> None:
    with pytest.raises(BadNotifyUrl):
        parse(url)
    with pytest.raises(ConfigError):
        Settings(notify=url).validate()


def test_only_acknowledged_events_before_an_lbs_first_failure_count_as_delivered() -> None:
    batch = [Pending(1, "a", ""), Pending(2, "b", ""), Pending(3, "a", ""),
             Pending(4, "b", ""), Pending(5, "a", ""), Pending(6, None, "")]
    # 2 failed: b's later 4 waits for it although acknowledged; a goes on
    assert accepted(batch, {1, 3, 4, 5, 6}) == [1, 3, 5, 6]
    assert accepted(batch, set()) == []
    assert accepted(batch, {2, 3, 4}) == [2, 4]


def _tree() -> tuple[LoadBalancer, Listener, Pool, Member]:
    lb = LoadBalancer(project_id="p", name="lb", vip_address="10.0.0.5", generation=3)
    li = Listener(project_id="p", loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80)
    pool = Pool(project_id="p", loadbalancer_id=lb.id)
    member = Member(project_id="p", pool_id=pool.id, loadbalancer_id=lb.id,
                    address="10.0.0.9", weight=4, tags=["t"])
    return lb, li, pool, member


def test_a_child_created_with_its_parent_is_told_by_the_parents_event_alone() -> None:
    lb, li, pool, member = _tree()
    changed = [Settled(lb, P.PENDING_CREATE, P.ACTIVE), Settled(li, P.PENDING_CREATE, P.ACTIVE),
               Settled(pool, P.PENDING_CREATE, P.ACTIVE),
               Settled(member, P.PENDING_CREATE, P.ACTIVE)]
    events = catalog.provisioning(lb, changed)
    assert [e.event_type for e in events] == ["octavia.loadbalancer.create.end"]
    assert events[0].payload["loadbalancer_id"] == lb.id
    assert "flavor" not in events[0].payload


def test_a_childs_own_change_carries_its_provider_dict_and_a_failure_its_reason() -> None:
    lb, _li, pool, member = _tree()
    (ok,) = catalog.provisioning(lb, [Settled(member, P.PENDING_UPDATE, P.ACTIVE)])
    assert ok.event_type == "octavia.member.update.end"
    assert ok.payload["member_id"] == member.id and ok.payload["pool_id"] == pool.id
    assert ok.payload["weight"] == 4
    assert not set(ok.payload) & payloads.BOOKKEEPING
    assert (ok.loadbalancer_id, ok.project_id, ok.generation) == (lb.id, "p", 3)
    (bad,) = catalog.provisioning(lb, [Settled(member, P.PENDING_CREATE, P.ERROR)],
                                  "x" * 2000)
    assert bad.event_type == "nslb.member.create.error" and bad.priority == "ERROR"
    assert len(bad.payload["reason"]) == payloads.REASON_LIMIT + 3


def test_a_failover_of_the_lb_is_not_an_update_the_user_asked_for() -> None:
    lb, *_ = _tree()
    (done,) = catalog.provisioning(lb, [Settled(lb, P.PENDING_UPDATE, P.ACTIVE)],
                                   failover=True)
    assert done.event_type == "nslb.loadbalancer.failover.end"
    (failed,) = catalog.provisioning(lb, [Settled(lb, P.PENDING_UPDATE, P.ERROR)], "boom",
                                     failover=True)
    assert failed.event_type == "nslb.loadbalancer.failover.error"


def test_an_lb_with_a_flavor_carries_its_profiles_metadata_as_octavia_does() -> None:
    lb, *_ = _tree()
    lb.flavor_id = "f1"
    (done,) = catalog.provisioning(lb, [Settled(lb, P.PENDING_CREATE, P.ACTIVE)],
                                   flavor_data='{"loadbalancer_topology": "SINGLE"}')
    assert done.payload["flavor"] == {"loadbalancer_topology": "SINGLE"}


def test_operating_status_events_only_for_what_moved_and_alarms_are_warnings() -> None:
    lb, li, pool, member = _tree()
    member.operating_status = "ONLINE"
    pool.operating_status = "ONLINE"
    events = catalog.operating(lb, [lb, li, pool, member],
                               {member.id: "ERROR", pool.id: "ONLINE", li.id: "ONLINE"})
    assert [(e.event_type, e.priority) for e in events] == [
        ("nslb.listener.operating_status.change", "INFO"),
        ("nslb.member.operating_status.change", "WARN")]
    assert events[1].payload["previous_operating_status"] == "ONLINE"


def test_nslb_serve_refuses_a_bad_notify_url_before_starting_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--state-dir", str(tmp_path / "s"),
                                      "--notify", "kafka://127.0.0.1:9092/"])
    assert result.exit_code == 2
    assert "not a Kafka topic name" in result.output
    assert not (tmp_path / "s").exists()
