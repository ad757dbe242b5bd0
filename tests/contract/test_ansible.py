"""Ansible's openstack.cloud modules against a real `nslb serve --auth keystone` (noop data
plane): tests/contract/ansible/site.yml makes a project (with an extra attribute), a user
(with an email), the user's role, then as that user a network, a subnet, a load balancer
with a floating IP and one without, a listener, a pool, two members and a health monitor.
The objects are checked through the API, and a second run must report every task
unchanged. teardown.yml removes it all with `state: absent` as the admin, and its second
run changes nothing either.

The playbooks run with `ansible-playbook` from `.venv-ansible` (`make ansible`: the PyPI
package `ansible`, which carries the collection) and the JSON stdout callback, whose
per-task results are read here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.test_openstack_cli import KeystoneServer, server
from tests.launcher import nslb_env

pytestmark = [pytest.mark.contract, pytest.mark.timeout(900)]
__all__ = ["server"]  # the fixture, shared with test_openstack_cli.py

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).with_name("ansible")
ANSIBLE_VENV = ROOT / ".venv-ansible" / "bin"
PASSWORD = "ans-Secret pw1"
FLOATING_NET = "anspublic"


class Playbooks:
    """`ansible-playbook` runs against one nslb, their per-task results as (name, result)."""

    def __init__(self, server: KeystoneServer) -> None:
        self.home = server.state_dir / "ansible"
        self.clouds = server.state_dir / "clouds-ansible.yaml"
        self.env = nslb_env("OS_", "ANSIBLE_")
        self.env.update({
            "OS_CLIENT_CONFIG_FILE": str(self.clouds),
            "ANSIBLE_HOME": str(self.home),
            "ANSIBLE_LOCAL_TEMP": str(self.home / "tmp"),
            "ANSIBLE_STDOUT_CALLBACK": "json",
            "ANSIBLE_PYTHON_INTERPRETER": str(ANSIBLE_VENV / "python"),
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_NOCOLOR": "true",
        })

    def write_clouds(self, admin: dict[str, Any]) -> None:
        user = {**admin, "auth": {**admin["auth"], "username": "ansuser",
                                  "password": PASSWORD, "project_name": "ansproj"}}
        self.clouds.write_text(yaml.safe_dump({"clouds": {"nslb": admin, "ansuser": user}}))
        self.clouds.chmod(0o600)

    def run(self, playbook: str) -> list[tuple[str, dict[str, Any]]]:
        cmd = [str(ANSIBLE_VENV / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               str(PLAYBOOKS / playbook), "-e", "admin_cloud=nslb", "-e", "user_cloud=ansuser",
               "-e", json.dumps({"user_password": PASSWORD, "floating_network": FLOATING_NET})]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL, cwd=PLAYBOOKS)
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"{playbook}: no JSON report ({proc.returncode}):\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}") from None
        results = [(task["task"]["name"], task["hosts"]["localhost"])
                   for play in report["plays"] for task in play["tasks"]]
        failed = [(name, r.get("msg"), [i.get("msg") for i in r.get("results", [])])
                  for name, r in results if r.get("failed")]
        assert proc.returncode == 0 and not failed, (proc.returncode, failed, proc.stderr[-2000:])
        return results


def _changed(results: list[tuple[str, dict[str, Any]]]) -> dict[str, bool]:
    return {name: bool(r.get("changed")) for name, r in results}


@pytest.fixture
def playbooks(server: KeystoneServer) -> Playbooks:
    if not (ANSIBLE_VENV / "ansible-playbook").exists():
        pytest.skip(f"no {ANSIBLE_VENV}/ansible-playbook: run `make ansible`")
    admin = yaml.safe_load((server.state_dir / "clouds.yaml").read_text())["clouds"]["nslb"]
    books = Playbooks(server)
    books.write_clouds(admin)
    return books


def _connect(server: KeystoneServer) -> Any:
    import openstack

    admin = yaml.safe_load((server.state_dir / "clouds.yaml").read_text())["clouds"]["nslb"]
    return openstack.connect(load_yaml_config=False, load_envvars=False, **admin)


def test_playbook_is_idempotent_and_tears_down(server: KeystoneServer,
                                                 playbooks: Playbooks) -> None:
    admin = _connect(server)
    try:
        public = admin.network.create_network(
            name=FLOATING_NET, is_router_external=True, provider_network_type="flat",
            provider_physical_network="physnet1")
        admin.network.create_subnet(network_id=public.id, name=f"{FLOATING_NET}-v4",
                                    ip_version=4, cidr="10.209.100.0/24",
                                    gateway_ip="10.209.100.1")

        first = playbooks.run("site.yml")
        assert all(_changed(first).values()), _changed(first)
        assert len(first) == 11
        _check_built(admin, public.id)

        again = playbooks.run("site.yml")
        assert [name for name, _ in again] == [name for name, _ in first]
        assert not any(_changed(again).values()), _changed(again)
        floating = dict(again)["Load balancer with a floating IP"]["floating_ip"]
        assert floating["floating_ip_address"].startswith("10.209.100.")

        gone = _changed(playbooks.run("teardown.yml"))
        assert [k for k, v in gone.items() if not v] == [
            "The pool, if it is still there (lb_member fails without it)",
            "The user, if it is still there (role_assignment fails without it)"], gone
        _check_gone(admin)
        still = playbooks.run("teardown.yml")
        assert not any(_changed(still).values()), _changed(still)
        assert [r.get("skipped") for n, r in still if n in ("Members", "Role assignment")] == [
            True, True]
    finally:
        admin.close()


def _check_built(admin: Any, public_id: str) -> None:
    """What the first run made, read back through the three APIs as the admin."""
    project = admin.identity.find_project("ansproj", ignore_missing=False)
    assert (project.description, project.is_enabled) == ("made by ansible", True)
    shown = admin.identity.get(f"/projects/{project.id}").json()["project"]
    assert shown["cost_center"] == "42"  # a Keystone extra attribute
    user = admin.identity.find_user("ansuser", ignore_missing=False)
    assert (user.email, user.description, user.default_project_id) == (
        "ansuser@example.com", "the playbook's user", project.id)
    member = admin.identity.find_role("member", ignore_missing=False)
    assigned = list(admin.identity.role_assignments(user_id=user.id,
                                                    scope_project_id=project.id))
    assert [a.role["id"] for a in assigned] == [member.id]

    lbs = {lb.name: lb for lb in admin.load_balancer.load_balancers(project_id=project.id)}
    assert sorted(lbs) == ["ansinner", "answeb"]
    web = lbs["answeb"]
    assert (web.provisioning_status, web.vip_address, web.description) == (
        "ACTIVE", "10.209.1.100", "the public one")
    listener = admin.load_balancer.find_listener("anshttp", ignore_missing=False)
    assert (listener.protocol, listener.protocol_port, listener.load_balancers) == (
        "HTTP", 80, [{"id": web.id}])
    assert (listener.timeout_client_data, listener.timeout_member_data) == (30000, 40000)
    pool = admin.load_balancer.find_pool("anspool", ignore_missing=False)
    assert (pool.lb_algorithm, pool.listeners, pool.provisioning_status) == (
        "LEAST_CONNECTIONS", [{"id": listener.id}], "ACTIVE")
    members = sorted((m.name, m.address, m.protocol_port, m.monitor_port, m.weight)
                     for m in admin.load_balancer.members(pool.id))
    assert members == [("answeb1", "10.209.1.11", 8080, 8081, 2),
                       ("answeb2", "10.209.1.12", 8080, 8081, 1)]
    monitor = admin.load_balancer.find_health_monitor("anscheck", ignore_missing=False)
    assert (monitor.type, monitor.delay, monitor.timeout, monitor.max_retries,
            monitor.max_retries_down, monitor.url_path, monitor.expected_codes,
            monitor.pools) == ("HTTP", 5, 3, 3, 2, "/health", "200,204", [{"id": pool.id}])

    ips = list(admin.network.ips(floating_network_id=public_id))
    assert [(ip.port_id, ip.fixed_ip_address, ip.project_id) for ip in ips] == [
        (web.vip_port_id, web.vip_address, project.id)]
    inner = lbs["ansinner"]
    assert list(admin.network.ips(port_id=inner.vip_port_id)) == []


def _check_gone(admin: Any) -> None:
    assert list(admin.identity.projects(name="ansproj")) == []
    assert list(admin.identity.users(name="ansuser")) == []
    assert list(admin.load_balancer.load_balancers()) == []
    assert list(admin.network.ips()) == []
    assert [n.name for n in admin.network.networks()] == [FLOATING_NET]
