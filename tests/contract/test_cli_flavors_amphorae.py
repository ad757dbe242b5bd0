"""The stock `openstack` CLI drives flavors, the amphora admin API and failover against a
real `nslb serve --auth keystone --amphora-driver noop` (issue 8, "Tests that must exist"):

an admin makes a flavor profile and an ACTIVE_STANDBY flavor, a project member sees the
flavor and builds a load balancer with `--flavor`, the admin finds its MASTER/BACKUP pair
with `amphora list`, shows, configures, fails over one amphora and then the whole load
balancer with `--wait`, reads amphora stats, and cleans up in the order the 409s demand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.server import NSLB, running
from tests.contract.test_openstack_cli import (
    OPENSTACK,
    PASSWORDS,
    Cli,
    KeystoneServer,
    parallel,
    user_clouds,
)

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]
HA_DATA = '{"loadbalancer_topology": "ACTIVE_STANDBY"}'
UNSUPPORTED = "Provider 'amphora' does not support a requested option: "


@pytest.fixture
def server() -> Iterator[KeystoneServer]:
    if not NSLB.exists() or not OPENSTACK.exists():
        pytest.skip("the nslb and openstack entry points are not installed")
    with running(KeystoneServer, "nslbf-") as srv:
        yield srv


def setup_project(cli: Cli) -> dict[str, Any]:
    """Project p1 with member user1, and a shared provider subnet; returns the subnet."""
    parallel(
        lambda: cli.json("nslb", "project", "create", "p1"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user1"], "user1"),
        lambda: cli.json("nslb", "network", "create", "--share", "--provider-network-type",
                         "flat", "--provider-physical-network", "physnet1", "public"),
    )
    _, subnet = parallel(
        lambda: cli.run("nslb", "role", "add", "--user", "user1", "--project", "p1",
                        "member"),
        lambda: cli.json("nslb", "subnet", "create", "--network", "public",
                         "--subnet-range", "10.78.0.0/24", "public-v4"),
    )
    result: dict[str, Any] = subnet
    return result


def amphorae(cli: Cli, lb: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = cli.json("nslb", "loadbalancer", "amphora", "list",
                                          "--loadbalancer", lb)
    return rows


def make_ha_flavor(cli: Cli) -> tuple[dict[str, Any], dict[str, Any]]:
    """flavorprofile create|list|show|set and flavor create|list|show|set|unset, with the
    provider's refusals along the way; returns (profile, flavor)."""
    bad_key, bad_value, bad_json = parallel(
        lambda: cli.fails("nslb", "loadbalancer", "flavorprofile", "create", "--name", "x",
                          "--provider", "amphora", "--flavor-data",
                          '{"amp_image_tag": "m1.small"}'),
        lambda: cli.fails("nslb", "loadbalancer", "flavorprofile", "create", "--name", "x",
                          "--provider", "amphora", "--flavor-data",
                          '{"loadbalancer_topology": "ACTIVE_ACTIVE"}'),
        lambda: cli.fails("nslb", "loadbalancer", "flavorprofile", "create", "--name", "x",
                          "--provider", "amphora", "--flavor-data", "{not json"),
    )
    assert UNSUPPORTED + "Additional properties are not allowed ('amp_image_tag' was " \
        "unexpected)" in bad_key and "501" in bad_key
    assert "'ACTIVE_ACTIVE' is not one of ['ACTIVE_STANDBY', 'SINGLE']" in bad_value
    assert "is not a valid option for flavor_data" in bad_json and "400" in bad_json

    fp = cli.json("nslb", "loadbalancer", "flavorprofile", "create", "--name", "fp-ha",
                  "--provider", "amphora", "--flavor-data", HA_DATA)
    assert (fp["name"], fp["provider_name"], fp["flavor_data"]) == ("fp-ha", "amphora",
                                                                     HA_DATA)
    cli.run("nslb", "loadbalancer", "flavorprofile", "set", "--name", "amphora-act-stdby",
            "fp-ha")
    listed, shown = parallel(
        lambda: cli.json("nslb", "loadbalancer", "flavorprofile", "list"),
        lambda: cli.json("nslb", "loadbalancer", "flavorprofile", "show", fp["id"]),
    )
    assert [(p["id"], p["name"]) for p in listed] == [(fp["id"], "amphora-act-stdby")]
    assert shown == {**fp, "name": "amphora-act-stdby"}

    flavor = cli.json("nslb", "loadbalancer", "flavor", "create", "--name", "ha",
                      "--flavorprofile", "amphora-act-stdby", "--description", "a pair",
                      "--enable")
    assert (flavor["flavor_profile_id"], flavor["enabled"], flavor["description"]) == (
        fp["id"], True, "a pair")
    cli.run("nslb", "loadbalancer", "flavor", "set", "--description", "VRRP pair", "ha")
    cli.run("nslb", "loadbalancer", "flavor", "unset", "--description", "ha")
    shown_flavor = cli.json("nslb", "loadbalancer", "flavor", "show", "ha")
    assert shown_flavor == {**flavor, "description": ""}
    # the profile is in use now: its meaning is fixed
    in_use = cli.fails("nslb", "loadbalancer", "flavorprofile", "set", "--flavor-data", "{}",
                       fp["id"])
    assert f"Flavor profile {fp['id']} is in use and cannot be modified." in in_use
    return fp, shown_flavor


def test_flavors_amphorae_and_failover_with_the_stock_cli(server: KeystoneServer) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    subnet = setup_project(cli)

    caps, flavor_caps, member_caps = parallel(
        lambda: cli.json("nslb", "loadbalancer", "provider", "capability", "list", "amphora"),
        lambda: cli.json("nslb", "loadbalancer", "provider", "capability", "list", "amphora",
                         "--flavor"),
        lambda: cli.fails("user1", "loadbalancer", "provider", "capability", "list",
                          "amphora"),
    )
    assert [(c["type"], c["name"]) for c in caps] == [
        ("flavor", "loadbalancer_topology"), ("flavor", "compute_flavor"),
        ("availability_zone", "compute_zone"), ("availability_zone", "valid_vip_networks")]
    assert "ACTIVE_STANDBY - Two amphora per load balancer." in flavor_caps[0]["description"]
    assert "403" in member_caps

    fp, flavor = make_ha_flavor(cli)

    # --- a project member sees the flavor (not the profile) and builds an LB with it ------
    member_flavors, member_profiles = parallel(
        lambda: cli.json("user1", "loadbalancer", "flavor", "list"),
        lambda: cli.fails("user1", "loadbalancer", "flavorprofile", "list"),
    )
    assert [f["name"] for f in member_flavors] == ["ha"]
    assert "403" in member_profiles
    cli.run("nslb", "loadbalancer", "flavor", "set", "--disable", "ha")
    refused = cli.fails("user1", "loadbalancer", "create", "--name", "lb-ha",
                        "--vip-subnet-id", subnet["id"], "--flavor", "ha")
    assert f"The selected flavor is not allowed in this deployment: {flavor['id']}" in refused
    cli.run("nslb", "loadbalancer", "flavor", "set", "--enable", "ha")
    lb = cli.json("user1", "loadbalancer", "create", "--name", "lb-ha", "--vip-subnet-id",
                  subnet["id"], "--flavor", "ha", "--wait")
    assert lb["flavor_id"] == flavor["id"]
    assert cli.json("user1", "loadbalancer", "show", "lb-ha")["provisioning_status"] == "ACTIVE"
    listener = cli.json("user1", "loadbalancer", "listener", "create", "--name", "l1",
                        "--protocol", "HTTP", "--protocol-port", "80", "--wait", "lb-ha")

    # --- the amphora admin API ---------------------------------------------------------------
    pair = amphorae(cli, lb["id"])
    assert sorted(a["role"] for a in pair) == ["BACKUP", "MASTER"]
    assert {a["loadbalancer_id"] for a in pair} == {lb["id"]}
    assert {a["ha_ip"] for a in pair} == {lb["vip_address"]}
    master = next(a for a in pair if a["role"] == "MASTER")
    shown, by_role, member_amps = parallel(
        lambda: cli.json("nslb", "loadbalancer", "amphora", "show", master["id"]),
        lambda: cli.json("nslb", "loadbalancer", "amphora", "list", "--role", "BACKUP"),
        lambda: cli.fails("user1", "loadbalancer", "amphora", "list"),
    )
    assert (shown["status"], shown["vrrp_priority"], shown["loadbalancer_id"]) == (
        "ALLOCATED", 100, lb["id"])
    assert shown["vrrp_ip"] and shown["vrrp_ip"] != lb["vip_address"]
    assert [a["role"] for a in by_role] == ["BACKUP"]
    assert "403" in member_amps
    stats = cli.json("nslb", "loadbalancer", "amphora", "stats", "show", master["id"])
    assert {"active_connections", "bytes_in", "bytes_out", "request_errors",
            "total_connections"} <= set(stats)
    listener_stats = cli.json("nslb", "loadbalancer", "amphora", "stats", "show",
                              "--listener", listener["id"], master["id"])
    assert listener_stats == stats
    cli.run("nslb", "loadbalancer", "amphora", "configure", "--wait", master["id"])

    # --- failover of one amphora, then of the whole load balancer ----------------------------
    cli.run("nslb", "loadbalancer", "amphora", "failover", "--wait", master["id"])
    after_one = amphorae(cli, lb["id"])
    assert sorted(a["role"] for a in after_one) == ["BACKUP", "MASTER"]
    assert master["id"] not in {a["id"] for a in after_one}
    assert {a["status"] for a in after_one} == {"ALLOCATED"}
    cli.run("nslb", "loadbalancer", "failover", "--wait", "lb-ha")
    after_all = amphorae(cli, lb["id"])
    assert sorted(a["role"] for a in after_all) == ["BACKUP", "MASTER"]
    assert not {a["id"] for a in after_all} & {a["id"] for a in after_one}
    final = cli.json("user1", "loadbalancer", "show", "lb-ha")
    assert (final["provisioning_status"], final["flavor_id"]) == ("ACTIVE", flavor["id"])

    # --- cleanup in the order Octavia's 409s demand --------------------------------------------
    flavor_in_use, profile_in_use = parallel(
        lambda: cli.fails("nslb", "loadbalancer", "flavor", "delete", "ha"),
        lambda: cli.fails("nslb", "loadbalancer", "flavorprofile", "delete", fp["id"]),
    )
    assert f"Flavor {flavor['id']} is in use and cannot be modified." in flavor_in_use
    assert f"Flavor profile {fp['id']} is in use and cannot be modified." in profile_in_use
    cli.run("user1", "loadbalancer", "delete", "--cascade", "--wait", "lb-ha")
    cli.run("nslb", "loadbalancer", "flavor", "delete", "ha")
    cli.run("nslb", "loadbalancer", "flavorprofile", "delete", "amphora-act-stdby")
    flavors, profiles = parallel(
        lambda: cli.json("nslb", "loadbalancer", "flavor", "list"),
        lambda: cli.json("nslb", "loadbalancer", "flavorprofile", "list"),
    )
    assert (flavors, profiles) == ([], [])
    assert json.loads(cli.run("nslb", "loadbalancer", "amphora", "list", "-f",
                              "json").stdout) == []
