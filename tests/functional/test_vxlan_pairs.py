"""An ACTIVE_STANDBY pair on a VXLAN network through two agents (mTLS on loopback, noop
data planes that keep every bundle they were handed): the worker places the pair before
it renders, so the very first bundle of each amphora floods to the other host and names
its peer (address, MAC, the peer host's underlay address). Rendered before placement, the
first bundles named no host at all, which made pairs across hosts flaky (1 run in 6)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from nslb.agent.join import join
from nslb.agent.run import AgentServer
from nslb.agent.state import AgentFiles
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.db.tables import amphora, port
from nslb.model.bundle import Bundle, Peer
from tests.functional.conftest import PHYSNETS, PROJECT
from tests.functional.octavia_helpers import create_lb
from tests.functional.test_agents import (  # noqa: F401 - fixtures
    LOOPBACK,
    Agent,
    Controller,
    NoopWithFacts,
    controller,
    driver,
    free_port,
    remote,
    stop_agent,
    wait_listening,
)
from tests.functional.test_networking import make_network, make_subnet
from tests.functional.test_vxlan_agents import UNDERLAY


class FirstBundles(NoopWithFacts):
    """A host with an underlay address that keeps the first bundle each amphora was
    handed, besides the latest."""

    def __init__(self, underlay: str) -> None:
        super().__init__(underlay_address=underlay)
        self.underlay = underlay
        self.first: dict[str, Bundle] = {}

    def apply(self, bundle: Bundle) -> str:
        self.first.setdefault(bundle.amphora_id, bundle)
        return super().apply(bundle)


def _start(directory: Path, controller: Controller, name: str) -> Agent:  # noqa: F811
    files = AgentFiles(directory)
    port_number = free_port()
    join(controller.url, controller.token(), files, LOOPBACK, port_number, name=name)
    noop = FirstBundles(UNDERLAY[name])
    server = AgentServer(files, noop, LOOPBACK, port_number, refresh=3600)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_listening(port_number)
    return Agent(files, server, noop, port_number, thread)


@pytest.fixture
def pair_agents(tmp_path: Path, controller: Controller) -> Iterator[list[Agent]]:  # noqa: F811
    both = [_start(tmp_path / name, controller, name) for name in UNDERLAY]
    yield both
    for one in both:
        stop_agent(one)


def test_the_first_bundles_of_a_fresh_pair_name_the_peer_and_its_host(
        tmp_path: Path, pair_agents: list[Agent], db: Database, worker: Any) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        net = make_network(client, **{"provider:network_type": "vxlan"})
        subnet = make_subnet(client, net["id"], "10.246.5.0/24")
        lb = create_lb(client, subnet["id"])
        worker.drain()
        assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()[
            "loadbalancer"]["provisioning_status"] == "ACTIVE"
    with db.read() as session:
        rows = session.execute(select(amphora.c.id, amphora.c.compute_id, amphora.c.vrrp_ip,
                                      port.c.mac_address)
                               .join(port, port.c.id == amphora.c.vrrp_port_id)).all()
    assert len(rows) == 2 and rows[0].compute_id != rows[1].compute_id
    for agent in pair_agents:
        noop = agent.driver
        assert isinstance(noop, FirstBundles)
        host_id = agent.files.registration().host_id
        (mine,) = [r for r in rows if r.compute_id == host_id]
        (theirs,) = [r for r in rows if r.compute_id != host_id]
        other = next(a.driver for a in pair_agents if a is not agent)
        assert isinstance(other, FirstBundles)
        first = noop.first[mine.id]
        vrrp = first.ports[0]
        assert vrrp.network_type == "vxlan"
        assert vrrp.flood == (other.underlay,)
        assert vrrp.peers == (Peer(theirs.vrrp_ip, theirs.mac_address, other.underlay),)
        assert noop.bundles[mine.id].hash == first.hash  # nothing needed rendering again
