"""A re-encrypting pool's CA rotated under traffic through a real `nslb serve`: members
re-issued by a new CA, no request lost.

The rotation an operator does: the pool trusts the old and the new CA (one secret holding
both), the members are re-issued by the new CA (the echo server reloads its certificate on
SIGHUP), then the pool trusts the new CA alone. A client in its own namespace sends a new
request every moment through the VIP (an HTTP listener, TLS to the members) and none may
fail. Finally a member going back to a certificate of the old CA is refused (503): the CA
in force is really the new one, not a file that was only written.

HAProxy 2.6 swaps a CA file at run time only on server lines that present a client
certificate (nslb.amphora.tls_files): with `tls_container_ref` the master, its worker and
the reload count stay the same; without it each CA change is one checked reload (two in
all), and the master stays the same process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.api_env import POOLS, Api, flat_subnet, serving
from tests.integration.conftest import HERE, PREFIX, Lab
from tests.integration.test_api_tls import master_and_workers
from tests.tls_material import Authority, Issued, store_container, store_secret

PHYSNET = "physnet-tl"
CIDR = "10.231.0.0/24"
MEMBER = "10.231.0.21"
CLIENT = "10.231.0.50"
_tests = 0


@dataclass
class Env:
    api: Api
    lab: Lab
    subnet: str


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with serving(tag=f"{PREFIX}tlca", physnet=PHYSNET) as (api, lab):
        yield Env(api, lab, flat_subnet(api, PHYSNET, CIDR, "10.231.0.100", "10.231.0.199"))


@pytest.fixture
def hosts(env: Env) -> Iterator[Lab]:
    """Namespaces of one test on the module bridge; its LBs are deleted after it."""
    global _tests
    _tests += 1
    lab = Lab(bridge=env.lab.bridge, tag=f"{PREFIX}tl{_tests:x}")
    try:
        yield lab
    finally:
        try:
            problems = env.api.delete_all()
        finally:
            lab.cleanup()
        assert not problems, problems


class Member:
    """An HTTPS echo server whose certificate can be re-issued while it serves."""

    def __init__(self, lab: Lab, directory: Path, issued: Issued,
                 client_ca: bytes | None) -> None:
        self.pem = directory / "member.pem"
        self.install(issued)
        ns = lab.host("be", [f"{MEMBER}/24"])
        args = [str(self.pem)]
        if client_ca is not None:
            (directory / "clients.pem").write_bytes(client_ca)
            args.append(str(directory / "clients.pem"))
        self.proc = lab.track(subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "echo_server.py"), "be",
             "8443", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        assert self.readline() == "ready"

    def install(self, issued: Issued) -> None:
        self.pem.write_bytes(issued.cert_pem + issued.key_pem)

    def reissue(self, issued: Issued) -> None:
        """Serve `issued` from the next handshake on (the server says when it has it)."""
        self.install(issued)
        self.proc.send_signal(signal.SIGHUP)
        assert self.readline() == "reloaded"

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()


@pytest.mark.parametrize("client_cert", [True, False], ids=["runtime", "reload"])
def test_pool_ca_rotation_to_reissued_members_loses_no_request(
        env: Env, hosts: Lab, tmp_path: Path, client_cert: bool) -> None:
    api = env.api
    old, new, lb_clients = Authority("members-old"), Authority("members-new"), \
        Authority("lb-clients")
    member = Member(hosts, tmp_path, old.server_ip(MEMBER),
                    lb_clients.pem if client_cert else None)
    cl = hosts.host("cl", [f"{CLIENT}/24"])
    pool = {"name": "tls-members", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "tls_enabled": True, "ca_tls_container_ref": store_secret(api.http, old.pem, "old"),
            "members": [{"address": MEMBER, "protocol_port": 8443}]}
    if client_cert:
        pool["tls_container_ref"] = store_container(api.http, lb_clients.client("the-lb"))
    lb = api.create_lb({"name": "ca-rotation", "vip_subnet_id": env.subnet, "listeners": [{
        "name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": pool}]})
    lb_id, url = lb["id"], f"http://{lb['vip_address']}:80/"
    pool_url = f"{POOLS}/{api.pool_id(lb_id)}"
    assert hosts.probe(cl, url)[0].get("name") == "be"
    before = master_and_workers(api, lb_id)

    stop = tmp_path / "stop"
    loop = hosts.start_loop(cl, url, stop)
    try:
        api.change(lb_id, "PUT", pool_url, {"pool": {"ca_tls_container_ref": store_secret(
            api.http, old.pem + new.pem, "old-and-new")}})
        member.reissue(new.server_ip(MEMBER))
        assert hosts.probe(cl, url)[0].get("name") == "be"
        api.change(lb_id, "PUT", pool_url, {"pool": {
            "ca_tls_container_ref": store_secret(api.http, new.pem, "new")}})
        assert [a.get("name") for a in hosts.probe(cl, url, 3)] == ["be"] * 3
    finally:
        stop.touch()
        out, _ = loop.communicate(timeout=90)
    result = json.loads(out)
    assert result["errors"] == [] and result["ok"] > 0, result

    after = master_and_workers(api, lb_id)
    if client_cert:
        assert after == before  # same master, same worker, no reload
    else:
        assert after[0] == before[0] and after[2] == before[2] + 2  # one reload per CA change
    on_disk = next(api.amphora_dir(lb_id).glob("tls/*/members.ca.pem")).read_text()
    assert on_disk == new.pem.decode()  # for the next start or reload
    # the new CA alone is in force: a member back on the old CA's certificate is refused
    member.reissue(old.server_ip(MEMBER))
    # (haproxy retries the handshake before it answers)
    assert hosts.probe(cl, url, timeout=30)[0].get("error") == "status 503"
    assert master_and_workers(api, lb_id) == after
