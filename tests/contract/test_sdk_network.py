"""openstacksdk's network proxy against nslb served by a real uvicorn on loopback.

The SDK needs the override to name the version (`.../networking/v2.0`): for the network
service it skips discovery and appends resource paths to the override as given.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.db.migrate import upgrade

openstack = pytest.importorskip("openstack")

pytestmark = pytest.mark.contract
PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    """nslb on a kernel-chosen loopback port; yields the network endpoint URL."""
    db = Database(f"sqlite:///{tmp_path / 'nslb.db'}")
    upgrade(db)
    app = create_app(Settings(state_dir=tmp_path, physnet=["physnet1:nslbt-br1"]), db)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/networking/v2.0"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        db.dispose()


def test_sdk_creates_and_lists_networks_and_subnets(endpoint: str) -> None:
    conn = openstack.connect(auth_type="none", network_endpoint_override=endpoint)
    # noauth: nslb takes the project from the header the SDK would not send unprompted
    conn.network.additional_headers = {"X-Project-Id": PROJECT}
    net = conn.network.create_network(name="sdk-net", provider_network_type="vlan",
                                      provider_physical_network="physnet1",
                                      provider_segmentation_id=42)
    assert net.provider_segmentation_id == 42 and net.mtu == 1500
    sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="192.0.2.0/24",
                                     name="sdk-sub", gateway_ip="192.0.2.254")
    assert sub.allocation_pools == [{"start": "192.0.2.1", "end": "192.0.2.253"}]
    assert [n.name for n in conn.network.networks()] == ["sdk-net"]
    assert [s.id for s in conn.network.subnets(network_id=net.id)] == [sub.id]
    assert conn.network.get_network(net.id).subnet_ids == [sub.id]
    assert conn.network.find_network("sdk-net", ignore_missing=False).id == net.id
    port = conn.network.create_port(network_id=net.id, name="reserved")
    assert port.fixed_ips == [{"subnet_id": sub.id, "ip_address": "192.0.2.1"}]
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.network.delete_subnet(sub)
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.network.create_network(provider_network_type="vlan",
                                    provider_physical_network="physnet1",
                                    provider_segmentation_id=42)
    conn.network.delete_port(port)
    conn.network.delete_network(net)
    assert list(conn.network.networks()) == []
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.network.find_subnet("sdk-sub", ignore_missing=False)
