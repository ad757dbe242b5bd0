"""Failover of an ACTIVE_STANDBY load balancer loses no request (issue 8's target 0).

A client in its own namespace loops over fresh connections while the load balancer's
amphorae are replaced: the whole LB (both amphorae, the standby first) or only the amphora
holding the VIP. The old holder holds new connections back (their SYNs are dropped and
sent again by the client), finishes the ones in flight, and only then hands the VIP over
(nslb.render.handover). Before that, requests accepted by the old holder in the last
milliseconds broke when the VIP moved. Every request of the loop must be answered by a
backend; nothing here is timed, the client waits as long as a real one would.

When the active amphora's haproxy is killed, the VIP's gate drops the SYNs nobody listens
for until the VIP has moved, so no new connection is refused meanwhile.

Everything is named with "fo" and lives in 10.208.31.0/24, in namespaces made here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.api_env import (
    FAST_MONITOR,
    Api,
    flat_subnet,
    http_lb,
    lab_tag,
    per_test,
    serving,
    url,
)
from tests.integration.conftest import Lab, wait_for
from tests.integration.test_active_standby import _kill_haproxy, holders, one_holder

PHYSNET = "physfo"
BACKENDS = ["10.208.31.21", "10.208.31.22"]
CLIENT = "10.208.31.50"
# Patient like a real client (curl waits 300 s to connect): a held-back SYN is sent again
# after 1 s and 3 s, and a loaded machine may take a while to move the VIP.
REQUEST_TIMEOUT = 20.0


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving(extra_args=("--topology", "ACTIVE_STANDBY"), tag=f"{lab_tag()}fo",
                 physnet=PHYSNET) as (api, lab):
        yield Env(api, lab, flat_subnet(api, PHYSNET, "10.208.31.0/24", "10.208.31.100",
                                        "10.208.31.199"))


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    with per_test(env.api, env.lab, tag=f"{lab_tag()}fo") as lab:
        yield lab


def _build(env: Env, hosts: Lab) -> tuple[str, str, str, list[Path]]:
    for i, address in enumerate(BACKENDS, start=1):
        hosts.serve(hosts.host(f"be{i}", [f"{address}/24"]), f"be{i}")
    client = hosts.host("cl", [f"{CLIENT}/24"])
    lb = env.api.create_lb(http_lb(env.subnet, [{"address": a} for a in BACKENDS],
                                   monitor=FAST_MONITOR))
    dirs = env.api.amphora_dirs(str(lb["id"]))
    assert len(dirs) == 2
    return str(lb["id"]), str(lb["vip_address"]), client, dirs


def _under_load(hosts: Lab, client: str, vip: str, tmp_path: Path,
                failover: object) -> dict[str, object]:
    """Run `failover` (a callable) while the client loops; the loop's answers and errors."""
    stop = tmp_path / "stop"
    loop = hosts.start_loop(client, url(vip), stop, timeout=REQUEST_TIMEOUT)
    try:
        time.sleep(0.5)
        assert callable(failover)
        failover()
        time.sleep(0.5)
    finally:
        stop.touch()
    result: dict[str, object] = json.loads(loop.communicate(timeout=60)[0])
    return result


def test_lb_failover_under_new_connections_loses_no_request(env: Env, hosts: Lab,
                                                             tmp_path: Path) -> None:
    lb_id, vip, client, old = _build(env, hosts)
    one_holder(old, vip)

    def failover() -> None:
        env.api.change(lb_id, "PUT", f"/v2/lbaas/loadbalancers/{lb_id}/failover", timeout=90)

    result = _under_load(hosts, client, vip, tmp_path, failover)
    new = env.api.amphora_dirs(lb_id)
    assert len(new) == 2 and not set(new) & set(old)
    assert all(not d.exists() for d in old)
    one_holder(new, vip)
    assert result["errors"] == [], result["errors"]
    assert isinstance(result["ok"], int) and result["ok"] > 20
    assert set(hosts.names(client, url(vip), 4)) == {"be1", "be2"}


def test_failover_of_the_vip_holder_loses_no_request(env: Env, hosts: Lab,
                                                     tmp_path: Path) -> None:
    lb_id, vip, client, old = _build(env, hosts)
    holder = one_holder(old, vip)
    standby = next(d for d in old if d != holder)

    def failover() -> None:
        env.api.change(lb_id, "PUT", f"/v2/octavia/amphorae/{holder.name}/failover",
                       timeout=90)

    result = _under_load(hosts, client, vip, tmp_path, failover)
    now = env.api.amphora_dirs(lb_id)
    assert len(now) == 2 and holder not in now and standby in now
    assert not holder.exists()
    # the VIP went to the standby (or the replacement); exactly one holds it
    assert len(holders(now, vip)) == 1
    assert result["errors"] == [], result["errors"]
    assert isinstance(result["ok"], int) and result["ok"] > 20
    assert set(hosts.names(client, url(vip), 4)) == {"be1", "be2"}


def test_a_killed_active_haproxy_refuses_no_connection(env: Env, hosts: Lab,
                                                       tmp_path: Path) -> None:
    lb_id, vip, client, dirs = _build(env, hosts)
    holder = one_holder(dirs, vip)
    standby = next(d for d in dirs if d != holder)

    def kill() -> None:
        _kill_haproxy(holder)
        assert wait_for(lambda: holders(dirs, vip) == [standby], 30, 0.1)

    result = _under_load(hosts, client, vip, tmp_path, kill)
    errors = result["errors"]
    assert isinstance(errors, list)
    # What a kill -9 may break: the request haproxy was serving, and the one the client
    # opened at once after it, which the kernel still accepted on the listening socket of
    # the dying process and reset when that socket closed (seen under CI load). No new
    # connection is refused while the dead amphora still holds the VIP: before the VIP gate
    # this loop saw hundreds of refused connects.
    assert len(errors) <= 2 and not any("Refused" in str(e) for e in errors), errors
    assert isinstance(result["ok"], int) and result["ok"] > 20
    assert set(hosts.names(client, url(vip), 4)) == {"be1", "be2"}
