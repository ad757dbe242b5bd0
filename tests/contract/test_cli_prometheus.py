"""The stock `openstack` CLI and a Prometheus scrape against a real `nslb serve --auth
keystone --amphora-driver noop --metrics-listen ...`: a project member adds a PROMETHEUS
listener and meets Octavia's refusals of children, and nslb's metrics name the listener
and the member's Keystone-verified project."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.contract.server import NSLB, free_port, running
from tests.contract.test_cli_flavors_amphorae import setup_project
from tests.contract.test_openstack_cli import (
    OPENSTACK,
    Cli,
    KeystoneServer,
    parallel,
    user_clouds,
)

pytestmark = [pytest.mark.contract, pytest.mark.timeout(300)]


class MeteredServer(KeystoneServer):
    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.metrics_url = f"http://127.0.0.1:{free_port()}/metrics"

    def command(self) -> list[str]:
        return [*super().command(), "--metrics-listen",
                self.metrics_url.removeprefix("http://").removesuffix("/metrics")]


@pytest.fixture
def server() -> Iterator[MeteredServer]:
    if not NSLB.exists() or not OPENSTACK.exists():
        pytest.skip("the nslb and openstack entry points are not installed")
    with running(MeteredServer, "nslbmet-") as srv:
        yield srv


def _series(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(url, timeout=5).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_a_prometheus_listener_with_the_stock_cli(server: MeteredServer) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    subnet = setup_project(cli)
    lb = "user1", "loadbalancer"
    web = cli.json(*lb, "create", "--name", "web", "--vip-subnet-id", subnet["id"], "--wait")
    metrics = cli.json(*lb, "listener", "create", "--name", "metrics", "--protocol",
                       "PROMETHEUS", "--protocol-port", "9100", "--allowed-cidr",
                       "10.78.0.0/24", "--wait", "web")
    assert (metrics["protocol"], metrics["protocol_port"], metrics["provisioning_status"]) \
        == ("PROMETHEUS", 9100, "ACTIVE")
    pool, policy, shown = parallel(
        lambda: cli.fails(*lb, "pool", "create", "--listener", "metrics", "--protocol",
                          "HTTP", "--lb-algorithm", "ROUND_ROBIN"),
        lambda: cli.fails(*lb, "l7policy", "create", "--action", "REJECT", "metrics"),
        lambda: cli.json("nslb", "project", "show", "p1"))
    for refused in (pool, policy):
        assert "Protocol PROMETHEUS listeners cannot have child objects." in refused
    project = shown["id"]

    labels = frozenset({"loadbalancer_id": web["id"], "listener_id": metrics["id"],
                        "project_id": project}.items())
    deadline = time.monotonic() + 15
    series = _series(server.metrics_url)
    while ("nslb_listener_up", labels) not in series and time.monotonic() < deadline:
        time.sleep(0.2)
        series = _series(server.metrics_url)
    assert series["nslb_listener_up", labels] == 1
    # the API counted the member's calls under its project, by route template
    created = [(dict(k)["route"], v) for (name, k), v in series.items()
               if name == "nslb_api_requests_total" and dict(k)["method"] == "POST"
               and dict(k)["status"] == "201" and dict(k)["project_id"] == project]
    assert ("/load-balancer/v2.0/lbaas/listeners", 1) in created, created
    assert not [k for k in series if metrics["id"] in str(dict(k[1]).get("route", ""))]
