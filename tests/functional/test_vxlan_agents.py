"""VXLAN through the agents (mTLS on loopback, noop data planes): each agent reports its
underlay address in its facts, the controller keeps it on the host row, and the bundles
it sends each host flood the network to the other hosts that have a port on it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nslb.agent.join import join
from nslb.agent.run import AgentServer
from nslb.agent.state import AgentFiles
from nslb.amphora.noop import NoopDriver
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora
from nslb.model.bundle import HostFacts
from tests.functional.octavia_helpers import create_lb
from tests.functional.test_agents import (  # noqa: F401 - fixtures
    LOOPBACK,
    Agent,
    Controller,
    controller,
    driver,
    free_port,
    remote,
    stop_agent,
    wait_listening,
)
from tests.functional.test_networking import make_network, make_subnet

UNDERLAY = {"vx-1": "10.241.0.1", "vx-2": "10.241.0.2"}


class UnderlayNoop(NoopDriver):
    """The noop data plane of a host with an underlay address."""

    def __init__(self, underlay: str) -> None:
        super().__init__()
        self.underlay = underlay

    def facts(self) -> HostFacts:
        return dataclasses.replace(super().facts(), underlay_address=self.underlay)


def start(directory: Path, controller: Controller, name: str) -> Agent:  # noqa: F811
    files = AgentFiles(directory)
    port = free_port()
    join(controller.url, controller.token(), files, LOOPBACK, port, name=name)
    noop = UnderlayNoop(UNDERLAY[name])
    server = AgentServer(files, noop, LOOPBACK, port, refresh=3600)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_listening(port)
    return Agent(files, server, noop, port, thread)


@pytest.fixture
def vx_agents(tmp_path: Path, controller: Controller) -> Iterator[list[Agent]]:  # noqa: F811
    both = [start(tmp_path / name, controller, name) for name in UNDERLAY]
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
        assert port.flood == (other.driver.underlay,)  # type: ignore[attr-defined]
