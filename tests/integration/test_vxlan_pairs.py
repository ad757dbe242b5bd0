"""An ACTIVE_STANDBY pair across two agent hosts over VXLAN, with real traffic (root):
tests/integration/vxlan_pair_site.py builds the controller (heartbeats on), hosts p and q
and the pair; the client and the backend sit on the segment of the host whose amphora
does not hold the VIP. Exactly one amphora holds the VIP, each host has a static fdb
entry for the peer's MAC towards the peer's host and each amphora a PERMANENT neighbour
entry for its peer, and requests are served across the overlay. Then the VIP holder's
host is lost (kill -9 of its agent, its namespace deleted) under a client loop: the
survivor takes the VIP and serves. With only two hosts the replacement has nowhere to go
(a pair never shares a host), so the LB goes to provisioning ERROR, with a reason that
says so, while the survivor keeps serving."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.api_env import lab_tag
from tests.integration.conftest import STATE_DIRS, Lab, sh, wait_for
from tests.integration.vxlan_pair_site import PairSite, holds


@pytest.fixture
def site() -> Iterator[PairSite]:
    lab = Lab(tag=lab_tag())
    built: PairSite | None = None
    problems: list[str] = []
    try:
        built = PairSite(lab)
        built.start()
        yield built
    finally:
        if built is not None:
            problems = built.close()
        else:
            lab.cleanup()
    assert not problems, problems


def _mac(site: PairSite, amphora: dict[str, Any]) -> str:
    assert site.api is not None
    port = site.api.call("GET", f"/networking/v2.0/ports/{amphora['vrrp_port_id']}", 200)
    return str(port["port"]["mac_address"]).lower()


def _static_entries_are_there(site: PairSite) -> None:
    """Each host: the peer's MAC -> the peer's host, permanent; each amphora: its peer's
    address -> MAC, PERMANENT (no ARP, no flooding needed between the pair)."""
    for amp in site.amphorae:
        (peer,) = [a for a in site.amphorae if a is not amp]
        host, peer_host, mac = site.host_of(amp), site.host_of(peer), _mac(site, peer)
        fdb = host.fdb(site.vni)
        assert f"{mac} dst {peer_host.address} self permanent" in fdb, fdb
        neigh = sh("ip", "netns", "exec", f"nslb-{amp['id']}", "ip", "-o", "neigh")
        assert any(line.split()[0] == peer["vrrp_ip"] and f"lladdr {mac}" in line
                   and "PERMANENT" in line for line in neigh.splitlines()), neigh


def test_a_pair_across_hosts_over_vxlan_serves_and_survives_its_holders_host(
        site: PairSite, tmp_path: Path) -> None:
    site.pair_lb()
    assert len(site.amphorae) == 2
    assert len({a["compute_id"] for a in site.amphorae}) == 2  # one amphora per host
    holder = site.settle()
    (survivor,) = [a for a in site.amphorae if a is not holder]
    lost, kept = site.host_of(holder), site.host_of(survivor)
    _static_entries_are_there(site)

    client = site.plug_on(kept)
    assert site.serves(4), site.state()
    assert [a["id"] for a in site.holders()] == [holder["id"]], site.state()

    stopfile = tmp_path / "stop"
    STATE_DIRS.append(str(tmp_path))
    loop = site.lab.start_loop(client, site.vip_url, stopfile)
    time.sleep(1.0)
    lost_at = lost.lose()
    assert wait_for(lambda: holds(survivor["id"], site.vip), 10, 0.02), site.state()
    # keepalived's notify script records MASTER just after the VIP is added
    assert wait_for(lambda: site.vrrp_state(survivor) == "MASTER", 5, 0.02)
    takeover = site.vrrp_changed(survivor) - lost_at
    time.sleep(1.0)
    assert site.serves(4), site.state()
    stopfile.touch()
    out, _ = loop.communicate(timeout=30)
    result = json.loads(out)
    print(f"VXLAN pair, host of the VIP holder lost: the survivor took the VIP "
          f"{takeover:.2f} s after; {len(result['errors'])} failed of "
          f"{result['ok'] + len(result['errors'])} requests {result['errors'][:3]}")
    assert result["ok"] > 0
    # only what was in flight on the lost host when it went (one request at a time here)
    assert len(result["errors"]) <= 3, result["errors"]

    # Two hosts: the lost amphora's replacement has nowhere to go but the survivor's
    # host, which a pair never shares. The LB says ERROR, the log says why, and the
    # survivor serves on.
    assert site.api is not None
    lb_id = site.lb["id"]
    assert wait_for(lambda: site.api.lb(lb_id)["provisioning_status"] == "ERROR"  # type: ignore[union-attr]
                    , 60, 0.2), site.controller_log()
    log = site.controller_log(r"No valid host")
    assert f"HostUp rejected 1 (vp-{lost.name}: host is down or draining)" in log, log
    assert (f"AntiAffinity rejected 1 (vp-{kept.name}: holds another amphora of the load "
            "balancer)") in log, log
    assert "which keeps serving; this one needs another host that is up" in log, log
    assert site.serves(4), site.state()
    assert [a["id"] for a in site.holders()] == [survivor["id"]]
