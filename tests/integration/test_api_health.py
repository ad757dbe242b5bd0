"""Health monitoring through a real `nslb serve`: members that die show up as ERROR in the
status tree and get no traffic; backups serve only while the primary is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.api_env import FAST_MONITOR, Api, flat_subnet, http_lb, per_test, serving
from tests.integration.api_env import url as vip_url
from tests.integration.conftest import Lab, wait_for

BACKENDS = ["10.250.11.21", "10.250.11.22"]
CLIENT = "10.250.11.50"
DETECT = 10.0  # delay 1 + timeout 1, one retry, plus a health-loop round or two


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Api, Lab, str]]:
    with serving() as (api, lab):
        yield api, lab, flat_subnet(api, "physnet1", "10.250.11.0/24", "10.250.11.100",
                                    "10.250.11.199")


@pytest.fixture
def hosts(env: tuple[Api, Lab, str]) -> Iterator[Lab]:
    with per_test(env[0], env[1]) as lab:
        yield lab


def _pool(api: Api, lb_id: str) -> dict[str, Any]:
    return dict(api.status(lb_id)["listeners"][0]["pools"][0])


def _statuses(api: Api, lb_id: str) -> dict[str, str]:
    """address -> member operating status, plus 'pool' and 'lb'."""
    tree = api.status(lb_id)
    pool = tree["listeners"][0]["pools"][0]
    out = {m["address"]: m["operating_status"] for m in pool["members"]}
    out.update(pool=pool["operating_status"], lb=tree["operating_status"])
    return out


def test_killed_member_goes_error_gets_no_traffic_and_comes_back(
        env: tuple[Api, Lab, str], hosts: Lab) -> None:
    api, _, subnet = env
    ns = [hosts.host(f"be{i + 1}", [f"{a}/24"]) for i, a in enumerate(BACKENDS)]
    servers = [hosts.serve(n, f"be{i + 1}") for i, n in enumerate(ns)]
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = api.create_lb(http_lb(subnet, [{"address": a} for a in BACKENDS],
                               monitor=FAST_MONITOR))
    url = vip_url(lb["vip_address"])
    online = {BACKENDS[0]: "ONLINE", BACKENDS[1]: "ONLINE", "pool": "ONLINE", "lb": "ONLINE"}
    assert wait_for(lambda: _statuses(api, lb["id"]) == online, DETECT, 0.2), \
        _statuses(api, lb["id"])

    hosts.stop(servers[1])
    down = {**online, BACKENDS[1]: "ERROR", "pool": "DEGRADED", "lb": "DEGRADED"}
    assert wait_for(lambda: _statuses(api, lb["id"]) == down, DETECT, 0.2), \
        _statuses(api, lb["id"])
    assert hosts.names(client, url, 8) == ["be1"] * 8

    hosts.serve(ns[1], "be2")
    assert wait_for(lambda: _statuses(api, lb["id"]) == online, DETECT, 0.2), \
        _statuses(api, lb["id"])
    assert set(hosts.names(client, url, 6)) == {"be1", "be2"}


def test_backup_member_serves_only_while_the_primary_is_down(
        env: tuple[Api, Lab, str], hosts: Lab) -> None:
    api, _, subnet = env
    primary_ns = hosts.host("be1", [f"{BACKENDS[0]}/24"])
    primary = hosts.serve(primary_ns, "be1")
    hosts.serve(hosts.host("be2", [f"{BACKENDS[1]}/24"]), "be2")
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = api.create_lb(http_lb(subnet, [{"address": BACKENDS[0]},
                                        {"address": BACKENDS[1], "backup": True}],
                               monitor=FAST_MONITOR))
    url = vip_url(lb["vip_address"])
    assert wait_for(lambda: _statuses(api, lb["id"])[BACKENDS[1]] == "ONLINE", DETECT, 0.2)
    assert hosts.names(client, url, 6) == ["be1"] * 6

    hosts.stop(primary)
    assert wait_for(lambda: _statuses(api, lb["id"])[BACKENDS[0]] == "ERROR", DETECT, 0.2), \
        _statuses(api, lb["id"])
    assert hosts.names(client, url, 6) == ["be2"] * 6

    hosts.serve(primary_ns, "be1")
    assert wait_for(lambda: _statuses(api, lb["id"])[BACKENDS[0]] == "ONLINE", DETECT, 0.2)
    assert hosts.names(client, url, 6) == ["be1"] * 6
