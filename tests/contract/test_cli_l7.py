"""The stock `openstack` CLI drives L7 policies and rules against a real `nslb serve --auth
keystone --amphora-driver noop` (issue 9 §3): a project member builds the README's L7
recipe (a second pool for /static, a redirect of one host to https keeping the path, a
REJECT of /admin), reorders, edits, inverts and deletes, and meets Octavia's refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.server import NSLB, running
from tests.contract.test_cli_flavors_amphorae import setup_project
from tests.contract.test_openstack_cli import (
    OPENSTACK,
    Cli,
    KeystoneServer,
    parallel,
    user_clouds,
)

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]


@pytest.fixture
def server() -> Iterator[KeystoneServer]:
    if not NSLB.exists() or not OPENSTACK.exists():
        pytest.skip("the nslb and openstack entry points are not installed")
    with running(KeystoneServer, "nslbl7-") as srv:
        yield srv


def test_l7_policies_and_rules_with_the_stock_cli(server: KeystoneServer) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    subnet = setup_project(cli)
    lb = "user1", "loadbalancer"

    cli.json(*lb, "create", "--name", "web", "--vip-subnet-id", subnet["id"], "--wait")
    cli.json(*lb, "listener", "create", "--name", "http", "--protocol", "HTTP",
             "--protocol-port", "80", "--wait", "web")
    for name in ("main", "static"):  # each waits for the LB: one at a time
        cli.json(*lb, "pool", "create", "--name", name, "--loadbalancer", "web",
                 "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--wait")
    cli.run(*lb, "listener", "set", "--default-pool", "main", "--wait", "http")

    static = cli.json(*lb, "l7policy", "create", "--name", "static", "--action",
                      "REDIRECT_TO_POOL", "--redirect-pool", "static", "--wait", "http")
    cli.json(*lb, "l7rule", "create", "--type", "PATH", "--compare-type", "STARTS_WITH",
             "--value", "/static", "--wait", "static")
    https = cli.json(*lb, "l7policy", "create", "--name", "to-https", "--action",
                     "REDIRECT_PREFIX", "--redirect-prefix", "https://www.example.com",
                     "--redirect-http-code", "301", "--wait", "http")
    cli.json(*lb, "l7rule", "create", "--type", "HOST_NAME", "--compare-type", "EQUAL_TO",
             "--value", "old.example.com", "--wait", "to-https")
    admin = cli.json(*lb, "l7policy", "create", "--name", "no-admin", "--action", "REJECT",
                     "--position", "1", "--wait", "http")
    rule = cli.json(*lb, "l7rule", "create", "--type", "PATH", "--compare-type",
                    "STARTS_WITH", "--value", "/admin", "--wait", "no-admin")

    in_use, listed, shown = parallel(
        lambda: cli.fails(*lb, "pool", "delete", "static"),  # a policy redirects to it
        lambda: cli.json(*lb, "l7policy", "list", "--listener", "http"),
        lambda: cli.json(*lb, "l7policy", "show", "to-https"))
    assert "409" in in_use
    assert [(p["name"], p["position"]) for p in sorted(listed, key=lambda p: p["position"])] \
        == [("no-admin", 1), ("static", 2), ("to-https", 3)]
    assert (shown["action"], shown["redirect_prefix"], shown["redirect_http_code"]) == (
        "REDIRECT_PREFIX", "https://www.example.com", 301)
    assert shown["id"] == https["id"] and shown["provisioning_status"] == "ACTIVE"

    # move, switch action by giving a redirect field, invert a rule
    cli.run(*lb, "l7policy", "set", "--position", "3", "--wait", "no-admin")
    moved = cli.json(*lb, "l7policy", "show", admin["id"])
    assert moved["position"] == 3
    cli.run(*lb, "l7policy", "set", "--redirect-url", "https://example.com/moved", "--wait",
            static["id"])
    switched = cli.json(*lb, "l7policy", "show", static["id"])
    assert (switched["action"], switched["redirect_pool_id"]) == ("REDIRECT_TO_URL", None)
    cli.run(*lb, "l7rule", "set", "--invert", "--wait", "no-admin", rule["id"])
    rules = cli.json(*lb, "l7rule", "list", "no-admin")
    assert [(r["value"], r["invert"]) for r in rules] == [("/admin", True)]

    # Octavia's refusals, in its words
    bad_regex, bad_key = parallel(
        lambda: cli.fails(*lb, "l7rule", "create", "--type", "PATH", "--compare-type",
                          "REGEX", "--value", "^/(unclosed", "no-admin"),
        lambda: cli.fails(*lb, "l7rule", "create", "--type", "HEADER", "--compare-type",
                          "EQUAL_TO", "--key", "X-It's", "--value", "x", "no-admin"))
    assert "Unable to parse regular expression" in bad_regex and "400" in bad_regex
    assert "Invalid characters in key" in bad_key and "400" in bad_key

    cli.run(*lb, "l7rule", "delete", "--wait", "no-admin", rule["id"])
    cli.run(*lb, "l7policy", "delete", "--wait", "no-admin")
    left = cli.json(*lb, "l7policy", "list")
    assert sorted(p["name"] for p in left) == ["static", "to-https"]
    cli.run(*lb, "delete", "--cascade", "--wait", "web")
    assert cli.json(*lb, "l7policy", "list") == []
