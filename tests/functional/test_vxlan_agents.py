"""VXLAN through the agents (mTLS on loopback, noop data planes): each agent reports its
underlay address in its facts, the controller keeps it on the host row, and the bundles
it sends each host flood the network to the other hosts that have a port on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora
from tests.functional.octavia_helpers import create_lb
from tests.functional.test_agents import (  # noqa: F401 - fixtures
    Agent,
    Controller,
    controller,
    driver,
    remote,
    start_agent,
    stop_agent,
)
from tests.functional.test_networking import make_network, make_subnet

UNDERLAY = {"vx-1": "10.241.0.1", "vx-2": "10.241.0.2"}


@pytest.fixture
def vx_agents(tmp_path: Path, controller: Controller) -> Iterator[list[Agent]]:  # noqa: F811
    both = [start_agent(tmp_path / name, controller, name, underlay_address=underlay)
            for name, underlay in UNDERLAY.items()]
    yield both
    for one in both:
        stop_agent(one)


def test_each_host_floods_to_the_other(vx_agents: list[Agent], client: Any, worker: Any,
                                       db: Database) -> None:
    net = make_network(client, **{"provider:network_type": "vxlan"})
    subnet = make_subnet(client, net["id"], "10.240.0.0/24")
    first = create_lb(client, subnet["id"])
    worker.drain()
    second = create_lb(client, subnet["id"])
    worker.drain()
    with db.read() as session:
        underlay = {h.name: h.underlay_address for h in hosts.all_hosts(session)}
        placed = dict(session.execute(select(amphora.c.loadbalancer_id,
                                             amphora.c.compute_id)).all())
    assert underlay == UNDERLAY
    listed = client.get("/v2/lbaas/hosts").json()["hosts"]
    assert {h["name"]: h["underlay_address"] for h in listed} == UNDERLAY
    assert placed[first["id"]] != placed[second["id"]]  # one amphora on each host
    for lb in (first, second):
        worker.resync(lb["id"])
    worker.drain()

    for agent in vx_agents:
        (bundle,) = agent.driver.bundles.values()
        port = bundle.ports[0]
        assert (port.network_type, port.segmentation_id, port.mtu) == ("vxlan", 1000, 1450)
        other = next(a for a in vx_agents if a is not agent)
        assert port.flood == (other.driver.facts().underlay_address,)
