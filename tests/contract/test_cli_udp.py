"""The stock `openstack` CLI builds a UDP load balancer on a real `nslb serve --auth keystone
--amphora-driver noop` as a project member: a UDP listener, a SOURCE_IP pool with
SOURCE_IP persistence (timeout and granularity), members, a UDP-CONNECT monitor, show and
stats; and shows nslb's refusals of TLS and L7 on a UDP listener and of SCTP."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.server import NSLB
from tests.contract.test_cli_flavors_amphorae import setup_project
from tests.contract.test_openstack_cli import (
    OPENSTACK,
    Cli,
    KeystoneServer,
    parallel,
    user_clouds,
)

pytestmark = [pytest.mark.contract, pytest.mark.timeout(240)]


@pytest.fixture
def server() -> Iterator[KeystoneServer]:
    if not NSLB.exists() or not OPENSTACK.exists():
        pytest.skip("the nslb and openstack entry points are not installed")
    state = Path(tempfile.mkdtemp(prefix="nslbudp-", dir="/tmp"))
    srv = KeystoneServer(state)
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()
        print(f"--- nslb serve log ---\n{srv.log_tail(60)}")
        shutil.rmtree(state, ignore_errors=True)


def test_a_udp_load_balancer_with_the_stock_cli(server: KeystoneServer) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    subnet = setup_project(cli)
    lb = "user1", "loadbalancer"
    cli.json(*lb, "create", "--name", "dns", "--vip-subnet-id", subnet["id"], "--wait")
    listener = cli.json(*lb, "listener", "create", "--name", "dns", "--protocol", "UDP",
                        "--protocol-port", "53", "--wait", "dns")
    assert (listener["protocol"], listener["protocol_port"]) == ("UDP", 53)
    pool = cli.json(*lb, "pool", "create", "--name", "dns", "--listener", "dns",
                    "--protocol", "UDP", "--lb-algorithm", "SOURCE_IP",
                    "--session-persistence", "type=SOURCE_IP,persistence_timeout=120,"
                    "persistence_granularity=255.255.255.0", "--wait")
    assert (pool["protocol"], pool["lb_algorithm"]) == ("UDP", "SOURCE_IP")
    for address in ("10.78.0.21", "10.78.0.22"):
        cli.json(*lb, "member", "create", "--address", address, "--protocol-port", "5353",
                 "--subnet-id", subnet["id"], "--wait", "dns")
    monitor = cli.json(*lb, "healthmonitor", "create", "--type", "UDP-CONNECT", "--delay",
                       "3", "--timeout", "2", "--max-retries", "2", "--max-retries-down",
                       "2", "--wait", "dns")
    assert (monitor["type"], monitor["delay"]) == ("UDP-CONNECT", 3)

    tls_ref = f"http://127.0.0.1:{server.port}/key-manager/v1/secrets/{uuid.uuid4()}"
    shown, members, stats, tls, l7, sctp = parallel(
        lambda: cli.json(*lb, "pool", "show", "dns"),
        lambda: cli.json(*lb, "member", "list", "dns"),
        lambda: cli.json(*lb, "listener", "stats", "show", "dns"),
        lambda: cli.fails(*lb, "listener", "create", "--protocol", "UDP", "--protocol-port",
                          "54", "--default-tls-container-ref", tls_ref, "dns"),
        lambda: cli.fails(*lb, "l7policy", "create", "--action", "REJECT", "dns"),
        lambda: cli.fails(*lb, "listener", "create", "--protocol", "SCTP",
                          "--protocol-port", "9", "dns"),
    )
    persistence = shown["session_persistence"]
    assert (persistence["type"], persistence["persistence_timeout"],
            persistence["persistence_granularity"]) == ("SOURCE_IP", 120, "255.255.255.0")
    assert shown["healthmonitor_id"] == monitor["id"]
    assert sorted(m["address"] for m in members) == ["10.78.0.21", "10.78.0.22"]
    assert {"total_connections", "active_connections", "bytes_in"} <= set(stats)
    assert "UDP protocol listener does not support TLS." in tls and "(HTTP 400)" in tls
    assert "UDP protocol listeners do not support L7 policies" in l7 and "(HTTP 501)" in l7
    assert "SCTP (the kernel of this host has no SCTP support)" in sctp
    assert "(HTTP 501)" in sctp
