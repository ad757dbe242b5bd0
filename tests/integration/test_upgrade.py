"""Upgrading a state dir made by the version before amphorae, under load (issue 8, part 1).

The previous version kept one directory per LB (`<state>/lb/<lb_id>/`), a database at
migration 0003 (no amphora table), and ran haproxy as root with those paths on its command
line. This test builds exactly that, with a client loop running through the VIP, then starts
the new `nslb serve` on it and checks: migration 0004 made the LB one STANDALONE amphora with
its id; the running haproxy was adopted (same master, no failed request); an API change
still reloads it; and a delete leaves nothing behind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select
from starlette.testclient import TestClient

from nslb.amphora.haproxy_process import HAPROXY
from nslb.amphora.namespace import port_plan
from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db import snapshots
from nslb.db.engine import Database
from nslb.db.migrate import downgrade, upgrade
from nslb.db.tables import amphora as amphora_table
from nslb.model.resources import Amphora, LoadBalancer
from nslb.netns import ensure_namespace, namespace_name, plug
from nslb.netns.bridges import BridgeRegistry
from nslb.netns.sysctl import set_in_namespace
from nslb.render.bundle import build_bundle
from nslb.worker.loop import Worker
from tests.integration.api_env import PROJECT, Api, http_lb, url
from tests.integration.conftest import CREATED_LBS, CREATED_PORTS, Lab, sh, wait_for

BACKENDS = ["10.250.17.21", "10.250.17.22"]
CLIENT = "10.250.17.50"


def _legacy_state(state: Path, lab: Lab) -> str:
    """An LB as the previous version left it: DB rows at 0003, files under lb/<id>, haproxy
    started as root in nslb-<lb_id> with the old command line. Returns the LB id."""
    db = Database(f"sqlite:///{state / 'nslb.db'}")
    upgrade(db)
    settings = Settings(state_dir=state, physnet=[f"physnet1:{lab.bridge}"])
    worker = Worker(db, NoopDriver(), resync_interval=3600)
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        net = client.post("/networking/v2.0/networks", json={"network": {
            "name": "legacy", "provider:network_type": "flat",
            "provider:physical_network": "physnet1"}}).json()["network"]
        subnet = client.post("/networking/v2.0/subnets", json={"subnet": {
            "network_id": net["id"], "cidr": "10.250.17.0/24", "ip_version": 4,
            "gateway_ip": None, "allocation_pools": [
                {"start": "10.250.17.100", "end": "10.250.17.199"}]}}).json()["subnet"]
        lb = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": http_lb(
            subnet["id"], [{"address": a} for a in BACKENDS])}).json()["loadbalancer"]
    worker.drain()
    worker.stop()
    with db.read() as session:
        row = session.get(LoadBalancer, lb["id"])
        assert row is not None
        snap = snapshots.build(session, row)
    # the previous version's files: same config text but the old paths, user and header
    bundle = build_bundle(snap, Amphora(id=lb["id"], loadbalancer_id=lb["id"]),
                          NoopDriver().facts())
    text = (bundle.files["haproxy.cfg"].replace("/var/lib/nslb/amp/", f"{state}/lb/")
            .replace("user haproxy\n    group haproxy", "user nobody\n    group nogroup")
            .replace(f"loadbalancer {lb['id']}\n", f"loadbalancer {lb['id']} (generation "
                                                    f"{snap.generation})\n", 1))
    directory = state / "lb" / lb["id"]
    directory.mkdir(parents=True)
    (directory / "haproxy.cfg").write_text(text)
    (directory / "haproxy.cfg.lkg").write_text(text)
    _downgrade_to_0003(db)
    db.dispose()
    namespace = namespace_name(lb["id"])
    CREATED_LBS.add(lb["id"])
    CREATED_PORTS.update(p.port_id for p in bundle.ports)
    ensure_namespace(namespace)
    registry = BridgeRegistry(state / "bridges.json")
    for port in bundle.ports:
        plug(namespace, port_plan(port, lab.bridge), registry)
    set_in_namespace(namespace)
    sh("ip", "netns", "exec", namespace, HAPROXY, "-W", "-D", "-S",
       f"{directory}/master.sock,mode,600", "-p", f"{directory}/haproxy.pid", "-f",
       f"{directory}/haproxy.cfg")
    return str(lb["id"])


def _downgrade_to_0003(db: Database) -> None:
    downgrade(db, "0003")


def _master(state: Path, lb_id: str) -> int:
    return int((state / "amp" / lb_id / "haproxy.pid").read_text().split()[0])


def test_a_state_dir_of_the_previous_version_is_adopted_under_load(tmp_path: Path) -> None:
    lab = Lab()
    api = Api({"physnet1": lab.bridge})
    try:
        for i, address in enumerate(BACKENDS, start=1):
            lab.serve(lab.host(f"be{i}", [f"{address}/24"]), f"be{i}")
        client = lab.host("cl", [f"{CLIENT}/24"])
        lb_id = _legacy_state(api.state_dir, lab)
        legacy_master = int((api.state_dir / "lb" / lb_id / "haproxy.pid").read_text())
        vip = url("10.250.17.100")
        assert set(lab.names(client, vip, 4)) == {"be1", "be2"}
        stop = tmp_path / "stop"
        loop = lab.start_loop(client, vip, stop)
        time.sleep(0.5)

        api.start()
        api.lbs.append(lb_id)
        api.wait_active(lb_id)
        time.sleep(2)  # the first resync and health rounds run against the adopted LB
        assert _master(api.state_dir, lb_id) == legacy_master, "haproxy was restarted"
        assert (api.state_dir / "lb" / lb_id).is_symlink()
        db = Database(f"sqlite:///{api.state_dir / 'nslb.db'}")
        with db.read() as session:
            (row,) = session.execute(select(amphora_table)).all()
        db.dispose()
        assert (row.id, row.loadbalancer_id, row.role, row.status) == \
            (lb_id, lb_id, "STANDALONE", "ALLOCATED")
        # a change of the adopted LB: the old master reloads with the new config
        pool = api.pool_id(lb_id)
        member = api.members(lb_id)[BACKENDS[0]]["id"]
        api.change(lb_id, "PUT", f"/v2/lbaas/pools/{pool}/members/{member}",
                   {"member": {"admin_state_up": False}})
        assert wait_for(lambda: set(lab.names(client, vip, 4)) == {"be2"}, 10, 0.2)
        stop.touch()
        out, _ = loop.communicate(timeout=30)
        result = json.loads(out)
        assert result["errors"] == [], result["errors"][:5]
        assert result["ok"] > 20
        api.delete_lb(lb_id)
        assert not (api.state_dir / "lb" / lb_id).exists()
        assert not (api.state_dir / "amp" / lb_id).exists()
        assert namespace_name(lb_id) not in sh("ip", "netns", "list")
        assert not _alive(legacy_master)
    finally:
        problems = api.close()
        lab.cleanup()
    assert not problems, problems


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
