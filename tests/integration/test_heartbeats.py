"""Signed heartbeats end to end without the agent: a real `nslb serve --heartbeat-listen`
(namespace driver, real haproxy) watching every amphora through heartbeats
(heartbeat_amphorae = "all"), and `nslb heartbeat send` in another process observing the
same amphorae and reporting them over UDP on loopback. The status tree follows the
heartbeats (serve does not observe these amphorae itself); forged, replayed and old
heartbeats are refused and counted on the metrics listener; killing the sender makes the
amphora silent, and it is failed over after the heartbeat timeout and serves again.

Addresses: 10.235.1.0/24 only; bridge, physnet and namespaces are named with "hb"."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nslb.amphora.base import Observation
from nslb.heartbeat.envelope import encode
from nslb.heartbeat.keys import read_key
from nslb.heartbeat.observation import heartbeat_of
from tests.integration.api_env import FAST_MONITOR, Api, flat_subnet, http_lb, serving, url
from tests.integration.conftest import PREFIX, Lab, wait_for
from tests.launcher import nslb_env

PHYSNET = "hbnet1"
SUBNET = "10.235.1.0/24"
BACKEND = "10.235.1.21"
CLIENT = "10.235.1.50"
TIMEOUT = 8  # --heartbeat-timeout
AMPHORAE = "/v2/octavia/amphorae"
_tags = 0


def _tag() -> str:
    """A lab tag with "hb" in it that no other lab tag starts with."""
    global _tags
    _tags += 1
    return f"{PREFIX}hb{_tags:02x}"


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str
    heartbeats: tuple[str, int]
    metrics_url: str

    def sender(self) -> subprocess.Popen[str]:
        """`nslb heartbeat send` for every amphora of serve's state dir, twice a second,
        once it has made its first round (a Python process starts slowly on a busy
        machine, and an amphora it does not report in time is rightly failed over)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "nslb.cli.main", "heartbeat", "send",
             "--to", "{}:{}".format(*self.heartbeats), "--state-dir",
             str(self.api.state_dir), "--amphora-driver", "namespace", "--count", "0",
             "--interval", "0.5"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=nslb_env())
        self.lab.track(proc)
        assert proc.stdout is not None and proc.stdout.readline().startswith("round 1:")
        return proc

    def counted(self, result: str) -> float:
        text = httpx.get(self.metrics_url, timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "nslb_heartbeats_total" and \
                        sample.labels.get("result") == result:
                    return float(sample.value)
        return 0.0


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    udp, metrics = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", prefix="nslb-hb-") as config:
        config.write('heartbeat-amphorae = "all"\n')
        config.flush()
        with serving(extra_args=("--heartbeat-listen", f"127.0.0.1:{udp}",
                                 "--heartbeat-timeout", str(TIMEOUT),
                                 "--metrics-listen", f"127.0.0.1:{metrics}",
                                 "--config", config.name),
                     tag=_tag(), physnet=PHYSNET) as (api, lab):
            subnet = flat_subnet(api, PHYSNET, SUBNET, "10.235.1.100", "10.235.1.199")
            yield Env(api, lab, subnet, ("127.0.0.1", udp),
                      f"http://127.0.0.1:{metrics}/metrics")


def _statuses(api: Api, lb_id: str) -> dict[str, str]:
    tree = api.status(lb_id)
    pool = tree["listeners"][0]["pools"][0]
    return {"lb": tree["operating_status"], "member": pool["members"][0]["operating_status"]}


def _amphorae(api: Api, lb_id: str) -> list[dict[str, Any]]:
    found = api.call("GET", f"{AMPHORAE}?loadbalancer_id={lb_id}", 200)["amphorae"]
    return [a for a in found if a["status"] != "DELETED"]


def _status_of(api: Api, lb_id: str, amphora_id: str) -> str | None:
    return next((a["status"] for a in _amphorae(api, lb_id) if a["id"] == amphora_id), None)


def test_statuses_follow_heartbeats_and_a_silent_amphora_is_replaced(env: Env) -> None:
    api, lab = env.api, env.lab
    backend_ns = lab.host("be1", [f"{BACKEND}/24"])
    backend = lab.serve(backend_ns, "be1")
    client = lab.host("cl", [f"{CLIENT}/24"])
    sender = env.sender()  # reports every amphora of the state dir as soon as it exists
    lb = api.create_lb(http_lb(env.subnet, [{"address": BACKEND}], monitor=FAST_MONITOR))
    (first,) = _amphorae(api, lb["id"])
    assert lab.names(client, url(lb["vip_address"]), 2) == ["be1", "be1"]

    assert wait_for(lambda: _statuses(api, lb["id"]) == {"lb": "ONLINE", "member": "ONLINE"},
                    15, 0.2), _statuses(api, lb["id"])
    lab.stop(backend)
    assert wait_for(lambda: _statuses(api, lb["id"])["member"] == "ERROR", 15, 0.2), \
        _statuses(api, lb["id"])
    assert env.counted("accepted") > 0

    # what an attacker on the path could send, each saying all is well
    key = read_key(api.state_dir / "heartbeat.key")
    now = time.time()
    fine = Observation(running=True)
    before = {r: env.counted(r) for r in ("forged", "replayed", "stale")}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(encode(heartbeat_of(first["id"], 2 ** 62, now, fine), b"x" * 32),
                    env.heartbeats)
        sock.sendto(encode(heartbeat_of(first["id"], 1, now, fine), key), env.heartbeats)
        sock.sendto(encode(heartbeat_of(first["id"], 2 ** 62, now - 60, fine), key),
                    env.heartbeats)
    assert wait_for(lambda: all(env.counted(r) == before[r] + 1 for r in before), 10, 0.2), \
        {r: env.counted(r) for r in before}
    time.sleep(1.5)  # a round or two: the member is still what the true heartbeats say
    assert _statuses(api, lb["id"])["member"] == "ERROR"

    # the host's reporter dies: after the timeout the amphora is replaced
    assert [a["id"] for a in _amphorae(api, lb["id"])] == [first["id"]]
    lab.stop(sender)
    assert wait_for(lambda: _status_of(api, lb["id"], first["id"]) != "ALLOCATED", 30, 0.2), \
        _amphorae(api, lb["id"])
    env.sender()  # for the replacement, as soon as the failover has begun
    lab.serve(backend_ns, "be1")
    assert wait_for(lambda: [(a["id"] != first["id"], a["status"])
                             for a in _amphorae(api, lb["id"])] == [(True, "ALLOCATED")],
                    60, 0.3), _amphorae(api, lb["id"])
    api.wait_active(lb["id"], timeout=60)
    assert wait_for(lambda: _statuses(api, lb["id"]) == {"lb": "ONLINE", "member": "ONLINE"},
                    20, 0.2), _statuses(api, lb["id"])
    assert lab.names(client, url(lb["vip_address"]), 2) == ["be1", "be1"]
