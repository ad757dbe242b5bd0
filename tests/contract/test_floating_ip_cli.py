"""Floating IPs with the stock `openstack` CLI against a real `nslb serve --auth keystone`
(noop data plane): the admin makes an external network, a user puts a floating IP on the
VIP of their load balancer with `floating ip create|set --port|unset --port|list|show|
delete`, another project sees none of it and cannot use the first project's port, and
openstacksdk makes exactly the calls of Ansible's openstack.cloud.loadbalancer module
(`ips(port_id=..., fixed_ip_address=...)`, `find_available_ip`, `create_ip`,
`update_ip(..., port_id=None)`), which nslb answered with 404 before.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.contract.test_openstack_cli import (
    PASSWORDS,
    Cli,
    KeystoneServer,
    parallel,
    server,
    user_clouds,
)

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]
__all__ = ["server"]  # the fixture, shared with test_openstack_cli.py


def _wait_status(cli: Cli, cloud: str, fip: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        shown: dict[str, Any] = cli.json(cloud, "floating", "ip", "show", fip)
        if shown["status"] == status or time.monotonic() > deadline:
            assert shown["status"] == status, shown
            return shown
        time.sleep(0.5)


def _setup(cli: Cli) -> tuple[dict[str, Any], dict[str, Any]]:
    """Projects, users, the external network (admin) and user1's load balancer."""
    p1, _, _, _, public = parallel(
        lambda: cli.json("nslb", "project", "create", "p1"),
        lambda: cli.json("nslb", "project", "create", "p2"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user1"], "user1"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user2"], "user2"),
        lambda: cli.json("nslb", "network", "create", "--external", "--provider-network-type",
                         "flat", "--provider-physical-network", "physnet1", "public"),
    )
    assert public["router:external"] is True
    parallel(
        lambda: cli.run("nslb", "role", "add", "--user", "user1", "--project", "p1", "member"),
        lambda: cli.run("nslb", "role", "add", "--user", "user2", "--project", "p2", "member"),
        lambda: cli.json("nslb", "subnet", "create", "--network", "public", "--subnet-range",
                         "203.0.113.0/24", "--allocation-pool",
                         "start=203.0.113.10,end=203.0.113.20", "public-v4"),
    )
    cli.json("user1", "network", "create", "private")
    cli.json("user1", "subnet", "create", "--network", "private", "--subnet-range",
             "10.0.0.0/24", "private-v4")
    lb: dict[str, Any] = cli.json("user1", "loadbalancer", "create", "--name", "lb1",
                                  "--vip-subnet-id", "private-v4", "--wait")
    assert lb["project_id"] == p1["id"]
    return public, lb


def test_floating_ip_commands_and_the_ansible_calls(server: KeystoneServer) -> None:
    config, admin_cloud = user_clouds(server)
    cli = Cli(config)
    public, lb = _setup(cli)
    vip_port, vip = lb["vip_port_id"], lb["vip_address"]

    # --- user1: the CLI's floating IP commands -------------------------------------------
    external = cli.json("user1", "network", "list", "--external")
    assert [n["Name"] for n in external] == ["public"]  # other projects see external nets
    fip = cli.json("user1", "floating", "ip", "create", "public")
    address = fip["floating_ip_address"]
    assert address == "203.0.113.10" and fip["status"] == "DOWN" and not fip["port_id"]
    cli.run("user1", "floating", "ip", "set", "--port", vip_port, address)
    shown = _wait_status(cli, "user1", address, "ACTIVE")
    assert (shown["port_id"], shown["fixed_ip_address"]) == (vip_port, vip)
    assert shown["router_id"]
    by_port, long_list, u2_list, u2_show = parallel(
        lambda: cli.json("user1", "floating", "ip", "list", "--port", vip_port),
        lambda: cli.json("user1", "floating", "ip", "list", "--long"),
        lambda: cli.json("user2", "floating", "ip", "list"),
        lambda: cli.fails("user2", "floating", "ip", "show", fip["id"]),
    )
    assert [(f["Floating IP Address"], f["Fixed IP Address"]) for f in by_port] == [
        (address, vip)]
    assert [f["Status"] for f in long_list] == ["ACTIVE"]
    assert u2_list == [] and "No FloatingIP found" in u2_show

    # --- user2 cannot use user1's port, even with a floating IP of its own -----------------
    theirs = cli.json("user2", "floating", "ip", "create", "public")
    refused = cli.fails("user2", "floating", "ip", "set", "--port", vip_port, theirs["id"])
    assert "No Port found" in refused or "could not be found" in refused, refused
    cli.run("user2", "floating", "ip", "delete", theirs["floating_ip_address"])

    cli.run("user1", "floating", "ip", "unset", "--port", address)
    shown = _wait_status(cli, "user1", address, "DOWN")
    assert (shown["port_id"], shown["fixed_ip_address"], shown["router_id"]) == (
        None, None, None)
    second = cli.json("user1", "floating", "ip", "create", "--port", vip_port, "public")
    assert second["port_id"] == vip_port
    cli.run("user1", "floating", "ip", "delete", second["id"], address)
    assert cli.json("user1", "floating", "ip", "list") == []

    # --- openstacksdk, as the Ansible loadbalancer module calls it ------------------------
    _ansible_calls(admin_cloud, public["id"], vip_port, vip)


def _ansible_calls(admin_cloud: dict[str, Any], public_id: str, vip_port: str,
                   vip: str) -> None:
    import openstack

    conn = openstack.connect(
        auth_url=admin_cloud["auth"]["auth_url"], username="user1",
        password=PASSWORDS["user1"], project_name="p1", user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne")
    try:
        assert list(conn.network.ips(port_id=vip_port, fixed_ip_address=vip)) == []
        assert conn.network.find_available_ip() is None
        fip = conn.network.create_ip(floating_network_id=public_id)
        conn.network.update_ip(fip, fixed_ip_address=vip, port_id=vip_port)
        found = list(conn.network.ips(port_id=vip_port, fixed_ip_address=vip))
        assert [f.floating_ip_address for f in found] == [fip.floating_ip_address]
        # a second run finds the association and changes nothing
        assert conn.network.find_ip(fip.floating_ip_address, ignore_missing=False).id == fip.id
        conn.network.update_ip(found[0], fixed_ip_address=None, port_id=None)
        assert list(conn.network.ips(port_id=vip_port, fixed_ip_address=vip)) == []
        assert conn.network.find_available_ip().id == fip.id
        conn.network.delete_ip(fip)
    finally:
        conn.close()
