"""The README's TLS worked example, run as it is written (the bash block between the
`worked-example` markers) with the stock `openstack` CLI and `openssl`, as a project member
against a real `nslb serve --auth keystone --amphora-driver noop` (issue 9 §4). Then the
result is read back with the CLI, and a ref that cannot be read meets Octavia's refusal.
Real traffic through such a listener is tests/integration/test_api_tls.py's job."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.server import NSLB, running
from tests.contract.test_cli_flavors_amphorae import setup_project
from tests.contract.test_openstack_cli import OPENSTACK, Cli, KeystoneServer, user_clouds

pytestmark = [pytest.mark.contract, pytest.mark.timeout(600)]
README = Path(__file__).parents[2] / "README.md"
BLOCK = re.compile(r"<!-- worked-example -->\n```bash\n(.*?)```\n<!-- /worked-example -->",
                   re.DOTALL)


@pytest.fixture
def server() -> Iterator[KeystoneServer]:
    if not NSLB.exists() or not OPENSTACK.exists() or not shutil.which("openssl"):
        pytest.skip("the nslb and openstack entry points and openssl are needed")
    with running(KeystoneServer, "nslbtls-") as srv:
        yield srv


def worked_example() -> str:
    match = BLOCK.search(README.read_text())
    assert match is not None, "the README lost its worked-example block"
    return match.group(1)


def test_the_readme_worked_example_with_the_stock_cli(server: KeystoneServer,
                                                      tmp_path: Path) -> None:
    config, _ = user_clouds(server)
    cli = Cli(config)
    subnet = setup_project(cli)  # 10.78.0.0/24
    env = {**cli.env, "OS_CLOUD": "user1", "SUBNET": subnet["id"], "WEB1": "10.78.0.11",
           "WEB2": "10.78.0.12", "INTERNAL": "10.78.0.0/24",
           "PATH": f"{OPENSTACK.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", worked_example()], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=540,
                         stdin=subprocess.DEVNULL, check=False)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"

    lb = "user1", "loadbalancer"
    listeners = {li["name"]: li for li in cli.json(*lb, "listener", "list")}
    assert set(listeners) == {"https", "admin", "http"}
    https = cli.json(*lb, "listener", "show", "https")
    secrets = {s["Name"]: s["Secret href"] for s in cli.json("user1", "secret", "list")}
    assert https["protocol"] == "TERMINATED_HTTPS"
    assert https["default_tls_container_ref"] == secrets["www"]
    assert sorted(https["sni_container_refs"].split(", ")
                  if isinstance(https["sni_container_refs"], str)
                  else https["sni_container_refs"]) == sorted([secrets["www"], secrets["shop"]])
    assert "X-Forwarded-Proto" in str(https["insert_headers"])
    assert https["provisioning_status"] == "ACTIVE"
    admin = cli.json(*lb, "listener", "show", "admin")
    assert "10.78.0.0/24" in str(admin["allowed_cidrs"])
    policies = {p["name"]: p for p in cli.json(*lb, "l7policy", "list")}
    assert {name: p["action"] for name, p in policies.items()} == {
        "static": "REDIRECT_TO_POOL", "no-admin": "REJECT",
        "to-www.example.com": "REDIRECT_PREFIX", "to-shop.example.com": "REDIRECT_PREFIX"}
    assert all(p["provisioning_status"] == "ACTIVE" for p in policies.values())
    assert cli.json(*lb, "show", "web")["provisioning_status"] == "ACTIVE"
    # the load balancer service was given read access to what the listeners serve
    acl = cli.json("user1", "acl", "get", secrets["shop"])
    assert any("octavia" in str(row.get("Users", "")) for row in acl)

    missing = secrets["www"].rsplit("/", 1)[0] + "/8b2b2f6b-9c4a-4bd3-8f3a-6a1c2b3d4e5f"
    refused = cli.fails(*lb, "listener", "create", "--name", "bad", "--protocol",
                        "TERMINATED_HTTPS", "--protocol-port", "9443",
                        "--default-tls-container-ref", missing, "web")
    assert f"Could not retrieve certificate: ['{missing}']" in refused
