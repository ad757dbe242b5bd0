"""The dashboard's lines for outbox events (nslb/dashboard/history.py): one per kind of
event the catalog makes, the object named as the page names it now."""

from __future__ import annotations

import pytest

from nslb.dashboard.history import describe

LABELS = {"l1": "web", "m1": "10.0.0.5:80"}


@pytest.mark.parametrize(("event_type", "payload", "line"), [
    ("octavia.loadbalancer.create.end", {"loadbalancer_id": "lb", "name": "shop"},
     ("provisioning", "load balancer shop created")),
    ("octavia.listener.update.end", {"listener_id": "l1", "name": "old"},
     ("provisioning", "listener web updated")),
    ("octavia.member.delete.end", {"member_id": "gone1234567", "name": ""},
     ("provisioning", "member gone1234 deleted")),
    ("nslb.loadbalancer.failover.end", {"id": "lb", "name": "shop"},
     ("provisioning", "load balancer shop failed over")),
    ("nslb.pool.update.error", {"id": "p", "name": "api", "provisioning_status": "ERROR",
                                "reason": "haproxy refused the config"},
     ("provisioning", "pool api: update failed, ERROR (haproxy refused the config)")),
    ("nslb.member.operating_status.change",
     {"id": "m1", "name": "", "previous_operating_status": "ONLINE",
      "operating_status": "ERROR"},
     ("operating", "member 10.0.0.5:80: ONLINE \u2192 ERROR")),
    ("nslb.loadbalancer.failover.start", {"id": "lb", "name": "shop", "reason": "asked"},
     ("provisioning", "load balancer shop: failover started (asked)")),
    ("nslb.amphora.create.end", {"id": "a1b2c3d4e5", "role": "MASTER"},
     ("amphora", "amphora a1b2c3d4 (MASTER) created")),
    ("nslb.amphora.failover.stopped", {"id": "a1b2c3d4e5", "role": None},
     ("amphora", "amphora a1b2c3d4 (no role) not failed over: too many stale at once")),
])
def test_each_event_reads_as_one_line(event_type: str, payload: dict[str, object],
                                      line: tuple[str, str]) -> None:
    assert describe(event_type, payload, LABELS) == line


def test_events_the_page_does_not_know_are_left_out() -> None:
    assert describe("nslb.events.dropped", {"count": 3}, LABELS) is None
    assert describe("octavia.quota.update.end", {}, LABELS) is None
