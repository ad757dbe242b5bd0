"""Nova microversions as the stock clients use them, against a real `nslb serve --auth
keystone`: the `openstack` CLI negotiates from the version document (flavor create
--description needs 2.55, flavor set --description is the 2.55 PUT, properties come
inline from 2.61), `--os-compute-api-version` pins a version (2.54 hides the
description; 2.1 and 2.99 the SDK refuses from the discovered range), and openstacksdk
discovers the 2.53-2.85 range, reads the fields of the version it asks for, and meets
Nova's 406 when it sends one outside the range."""

from __future__ import annotations

import openstack
import pytest

from tests.contract import test_openstack_cli as stock
from tests.contract.test_openstack_cli import Cli, KeystoneServer, parallel, user_clouds

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]
server = stock.server  # a real `nslb serve --auth keystone` and its clouds.yaml
RANGE = "Minimum is 2.53 and maximum is 2.85."


def test_cli_negotiates_and_pins_compute_versions(server: KeystoneServer) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    made = cli.json("nslb", "flavor", "create", "--ram", "256", "--vcpus", "1", "--disk",
                    "0", "--id", "gold", "--description", "ssd pair", "--property",
                    "aggregate_instance_extra_specs:ssd=true", "amp.gold")
    assert (made["id"], made["description"]) == ("gold", "ssd pair")
    assert made["properties"] == {"aggregate_instance_extra_specs:ssd": "true"}
    cli.run("nslb", "flavor", "set", "--description", "rack b", "amp.gold")

    latest, old, too_old, too_new = parallel(
        lambda: cli.json("nslb", "flavor", "show", "amp.gold"),
        lambda: cli.json("nslb", "--os-compute-api-version", "2.54", "flavor", "show",
                         "gold"),
        lambda: cli.fails("nslb", "--os-compute-api-version", "2.1", "flavor", "list"),
        lambda: cli.fails("nslb", "--os-compute-api-version", "2.99", "flavor", "list"))
    assert (latest["description"], latest["swap"]) == ("rack b", 0)
    assert latest["properties"] == {"aggregate_instance_extra_specs:ssd": "true"}
    assert old.get("description") is None and old["name"] == "amp.gold"
    # the SDK under the CLI checks a pinned version against the discovered range itself
    for version, err in (("2.1", too_old), ("2.99", too_new)):
        assert (f"A default microversion for service compute of {version} was requested, "
                "but the cloud only supports a minimum of 2.53 and a maximum of 2.85") \
            in err, err


def test_sdk_discovers_the_range_and_pins_versions(server: KeystoneServer) -> None:
    _, admin = user_clouds(server)
    conn = openstack.connect(load_yaml_config=False, load_envvars=False, **admin)
    data = conn.compute.get_endpoint_data()
    assert (data.min_microversion, data.max_microversion) == ((2, 53), (2, 85))
    flavor = conn.compute.create_flavor(name="amp.silver", id="silver", ram=128, vcpus=1,
                                        disk=0, description="one")
    assert flavor.description == "one"
    conn.compute.create_flavor_extra_specs(flavor, {"k": "v"})
    assert conn.compute.fetch_flavor_extra_specs(flavor).extra_specs == {"k": "v"}
    assert conn.compute.get_flavor("silver").extra_specs == {"k": "v"}  # inline, 2.61

    for version, swap, has_description in (("2.53", "", False), ("2.75", 0, True)):
        resp = conn.compute.get("/flavors/silver", microversion=version)
        assert resp.headers["OpenStack-API-Version"] == f"compute {version}"
        assert resp.headers["X-OpenStack-Nova-API-Version"] == version
        shown = resp.json()["flavor"]
        assert (shown["swap"], "description" in shown) == (swap, has_description)
    # a client that does not check the range itself meets Nova's 406
    refused = conn.compute.get("/flavors", headers={"OpenStack-API-Version": "compute 2.52"})
    assert refused.status_code == 406
    assert refused.json() == {"computeFault": {
        "code": 406, "message": f"Version 2.52 is not supported by the API. {RANGE}"}}
    conn.compute.delete_flavor("silver")
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.get_flavor("silver")
