"""The stock `openstack` CLI (and openstacksdk with password auth) against a real
`nslb serve --auth keystone`: the bootstrapped admin's clouds.yaml, projects, users, role
assignments, a shared provider network, then a user's load balancer built with --wait,
isolation from another project's user, the admin's view, and the identity commands.

The CLI takes ~2 s to start, so independent commands run in parallel threads.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.server import NSLB, NslbServer, running
from tests.launcher import nslb_env

pytestmark = [pytest.mark.contract, pytest.mark.timeout(240)]
OPENSTACK = Path(sys.executable).with_name("openstack")
PASSWORDS = {"user1": "u1-Secret!pw", "user2": "u2 secret pw", "user1-new": "u1-new#pw"}


class KeystoneServer(NslbServer):
    def command(self) -> list[str]:
        cmd = super().command()
        cmd[cmd.index("noauth")] = "keystone"
        cmd[cmd.index("WARNING")] = "DEBUG"
        return cmd


class Cli:
    """`openstack` subprocesses with a clouds.yaml: admin (`nslb`), user1, user2."""

    def __init__(self, config: Path) -> None:
        self.env = nslb_env("OS_")
        self.env["OS_CLIENT_CONFIG_FILE"] = str(config)

    def run(self, cloud: str, *args: str,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(OPENSTACK), "--os-cloud", cloud, *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=90,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, cloud: str, *args: str) -> Any:
        return json.loads(self.run(cloud, *args, "-f", "json").stdout)

    def fails(self, cloud: str, *args: str) -> str:
        proc = self.run(cloud, *args, check=False)
        assert proc.returncode != 0, (args, proc.stdout)
        return proc.stderr


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


@pytest.fixture
def server() -> Iterator[KeystoneServer]:
    if not NSLB.exists() or not OPENSTACK.exists():
        pytest.skip("the nslb and openstack entry points are not installed")
    with running(KeystoneServer, "nslbk-") as srv:
        yield srv


def user_clouds(server: KeystoneServer) -> tuple[Path, dict[str, Any]]:
    """The bootstrapped clouds.yaml, checked, plus entries for user1 and user2."""
    path = server.state_dir / "clouds.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    clouds = yaml.safe_load(path.read_text())["clouds"]
    admin = clouds["nslb"]
    assert admin["auth"]["auth_url"] == f"{server.url}/identity/v3"
    assert admin["auth"]["username"] == "admin" and admin["auth"]["password"]
    for name, project in (("user1", "p1"), ("user2", "p2")):
        clouds[name] = {**admin, "auth": {**admin["auth"], "username": name,
                                          "password": PASSWORDS[name],
                                          "project_name": project}}
    out = server.state_dir / "clouds-users.yaml"
    out.write_text(yaml.safe_dump({"clouds": clouds}))
    out.chmod(0o600)
    return out, admin


def test_openstack_cli_and_sdk_with_keystone_auth(server: KeystoneServer) -> None:
    config, admin_cloud = user_clouds(server)
    cli = Cli(config)

    # --- admin: projects, users, a shared provider network ----------------------------
    p1, p2, u1, u2, net = parallel(
        lambda: cli.json("nslb", "project", "create", "p1"),
        lambda: cli.json("nslb", "project", "create", "p2", "--description", "second"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user1"], "user1"),
        lambda: cli.json("nslb", "user", "create", "--password", PASSWORDS["user2"], "user2"),
        lambda: cli.json("nslb", "network", "create", "--share", "--provider-network-type",
                         "flat", "--provider-physical-network", "physnet1", "public"),
    )
    assert net["shared"] is True and net["provider:network_type"] == "flat"
    _, _, subnet = parallel(
        lambda: cli.run("nslb", "role", "add", "--user", "user1", "--project", "p1",
                        "member"),
        lambda: cli.run("nslb", "role", "add", "--user", "user2", "--project", "p2",
                        "member"),
        lambda: cli.json("nslb", "subnet", "create", "--network", "public",
                         "--subnet-range", "10.77.0.0/24", "public-v4"),
    )
    assert subnet["network_id"] == net["id"]

    # --- user1 builds a load balancer on the shared subnet -----------------------------
    lb = cli.json("user1", "loadbalancer", "create", "--name", "lb1", "--vip-subnet-id",
                  subnet["id"], "--wait")
    assert lb["project_id"] == p1["id"]
    assert lb["vip_address"].startswith("10.77.0.")
    listener = cli.json("user1", "loadbalancer", "listener", "create", "--name", "l1",
                        "--protocol", "HTTP", "--protocol-port", "80", "--wait", "lb1")
    pool = cli.json("user1", "loadbalancer", "pool", "create", "--name", "pool1",
                    "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--listener",
                    listener["id"], "--wait")
    for i in (1, 2):
        member = cli.json("user1", "loadbalancer", "member", "create", "--name", f"m{i}",
                          "--address", f"10.77.0.{10 + i}", "--protocol-port", "8080",
                          "--subnet-id", subnet["id"], "--wait", pool["id"])
        assert member["project_id"] == p1["id"]
    hm = cli.json("user1", "loadbalancer", "healthmonitor", "create", "--name", "hm1",
                  "--delay", "5", "--timeout", "3", "--max-retries", "2", "--type", "HTTP",
                  "--wait", pool["id"])
    assert hm["provisioning_status"] in ("ACTIVE", "PENDING_CREATE")

    status, stats, u2_list, u2_show, u2_delete, admin_list, admin_all = parallel(
        lambda: json.loads(cli.run("user1", "loadbalancer", "status", "show", "lb1").stdout),
        lambda: cli.json("user1", "loadbalancer", "stats", "show", "lb1"),
        lambda: cli.json("user2", "loadbalancer", "list"),
        lambda: cli.fails("user2", "loadbalancer", "show", lb["id"]),
        lambda: cli.fails("user2", "loadbalancer", "delete", lb["id"]),
        lambda: cli.json("nslb", "loadbalancer", "list", "--project", "p1"),
        lambda: cli.json("nslb", "loadbalancer", "list"),
    )
    tree = status["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE"
    assert [li["name"] for li in tree["listeners"]] == ["l1"]
    pools = tree["listeners"][0]["pools"]
    assert len(pools[0]["members"]) == 2 and pools[0]["health_monitor"]["name"] == "hm1"
    assert {"active_connections", "bytes_in", "bytes_out", "request_errors",
            "total_connections"} <= set(stats)
    assert u2_list == []
    # a 404, after which the client also looks for the id as a name: not there either
    assert f"Unable to locate {lb['id']} in loadbalancers" in u2_show
    assert f"Unable to locate {lb['id']} in loadbalancers" in u2_delete
    assert [(x["name"], x["project_id"]) for x in admin_list] == [("lb1", p1["id"])]
    assert lb["id"] in {x["id"] for x in admin_all}

    # --- openstacksdk with password auth as user2 --------------------------------------
    import openstack

    conn = openstack.connect(
        auth_url=admin_cloud["auth"]["auth_url"], username="user2",
        password=PASSWORDS["user2"], project_name="p2", user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne")
    try:
        assert list(conn.load_balancer.load_balancers()) == []
        sdk_lb = conn.load_balancer.create_load_balancer(name="sdk-lb",
                                                         vip_subnet_id=subnet["id"])
        ready = conn.load_balancer.wait_for_load_balancer(sdk_lb.id, interval=1, wait=30)
        assert ready is not None and ready.project_id == p2["id"]
        assert [x.name for x in conn.load_balancer.load_balancers()] == ["sdk-lb"]
        assert conn.network.find_network("public", ignore_missing=False).name == "public"
        conn.load_balancer.delete_load_balancer(sdk_lb.id)
    finally:
        conn.close()

    # --- the SDK calls of Ansible's identity_user and project modules, as admin ------------
    auth = admin_cloud["auth"]
    admin = openstack.connect(
        auth_url=auth["auth_url"], username=auth["username"], password=auth["password"],
        project_name=auth["project_name"], user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne")
    try:
        wanted = {"name": "ansible-user", "email": "ops@example.com",
                  "description": "made by a playbook", "is_enabled": True,
                  "default_project_id": p1["id"], "domain_id": "default"}
        admin.identity.create_user(**wanted, password=PASSWORDS["user1"])
        # a re-run: identity_user finds the user and PATCHes only if a value differs
        found = admin.identity.find_user("ansible-user", ignore_missing=False,
                                         domain_id="default")
        assert {k: found[k] for k in wanted} == wanted
        admin.identity.update_user(found, email="ops2@example.com")
        assert admin.identity.get_user(found.id).email == "ops2@example.com"
        # the project module compares its free-form `properties` the same way
        admin.identity.create_project(name="ansible-project", domain_id="default",
                                      description="d", cost_center="42")
        project = admin.identity.find_project("ansible-project", ignore_missing=False,
                                              domain_id="default")
        assert (project["cost_center"], project.description) == ("42", "d")
        admin.identity.delete_project(project)
        admin.identity.delete_user(found)
    finally:
        admin.close()

    # --- teardown of the LB and the identity commands ----------------------------------
    deleted, token, catalog, projects, wrong = parallel(
        lambda: cli.run("user1", "loadbalancer", "delete", "--cascade", "--wait", "lb1"),
        lambda: cli.json("user1", "token", "issue"),
        lambda: cli.json("user1", "catalog", "list"),
        lambda: cli.json("nslb", "project", "list"),
        lambda: cli.fails("user1", "--os-password", "not-the-password", "token", "issue"),
    )
    assert token["project_id"] == p1["id"] and token["user_id"] == u1["id"]
    assert token["id"].startswith("gAAAAA")
    assert {c["Type"] for c in catalog} == {"identity", "load-balancer", "network",
                                            "key-manager", "compute"}
    endpoints = {c["Type"]: json.dumps(c["Endpoints"]) for c in catalog}
    assert f"{server.url}/load-balancer" in endpoints["load-balancer"]
    assert {p["Name"] for p in projects} == {"admin", "p1", "p2"}
    assert "401" in wrong, wrong

    cli.run("nslb", "user", "set", "--password", PASSWORDS["user1-new"], "user1")
    new_login, old_login, _ = parallel(
        lambda: cli.json("user1", "--os-password", PASSWORDS["user1-new"], "token", "issue"),
        lambda: cli.fails("user1", "token", "issue"),
        lambda: cli.run("nslb", "role", "remove", "--user", "user2", "--project", "p2",
                        "member"),
    )
    assert new_login["user_id"] == u1["id"]
    assert "401" in old_login
    assignments, user2_login, remaining = parallel(
        lambda: cli.json("nslb", "role", "assignment", "list", "--names"),
        lambda: cli.fails("user2", "token", "issue"),
        lambda: cli.json("nslb", "loadbalancer", "list"),
    )
    pairs = {(a["Role"], a["User"], a["Project"]) for a in assignments}
    assert ("member", "user1@Default", "p1@Default") in pairs
    assert ("admin", "admin@Default", "admin@Default") in pairs
    assert not [p for p in pairs if p[1] == "user2@Default"]
    assert "401" in user2_login
    assert {x["name"] for x in remaining} <= {"sdk-lb"}  # lb1 gone, sdk-lb deleting

    # passwords and tokens never reach the server's log
    log = server.log_path.read_text(errors="replace")
    assert " DEBUG " in log, "the server ran at --log-level DEBUG"
    for secret in (*PASSWORDS.values(), admin_cloud["auth"]["password"], token["id"],
                   new_login["id"]):
        assert secret not in log
    assert u2["name"] == "user2"
