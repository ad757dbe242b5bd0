"""Agents over mutual TLS on loopback, with real TLS handshakes: the join flow, the
controller's calls through the remote driver (the agent wraps the noop driver here; the
integration tier runs the namespace driver), and every client the agent must refuse."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from sqlalchemy import select
from starlette.testclient import TestClient

from nslb.agent import run as agent_run
from nslb.agent.join import JoinError, join
from nslb.agent.run import AgentServer
from nslb.agent.state import AgentFiles
from nslb.amphora.base import Superseded
from nslb.amphora.noop import NoopDriver
from nslb.amphora.remote import RemoteDriver
from nslb.api import policy
from nslb.api.app import create_app
from nslb.config import ConfigError, Settings, load
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora
from nslb.model.bundle import Bundle, HostFacts
from nslb.pki import ca as ca_module
from nslb.pki import contexts, tokens
from nslb.pki.ca import (
    CONTROLLER,
    CertificateAuthority,
    common_name,
    key_pem,
    make_csr,
    new_key,
    now,
    write_private,
    write_public,
)
from nslb.pki.controller import ControllerPki
from nslb.pki.endpoint import JoinListener
from tests.functional.conftest import PHYSNETS, PROJECT
from tests.functional.octavia_helpers import active_lb

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on {port}")


@dataclass
class Controller:
    pki: ControllerPki
    url: str
    listener: JoinListener

    def token(self, lifetime: dt.timedelta = dt.timedelta(hours=1)) -> str:
        token = tokens.new(self.pki.ca.fingerprint)
        with self.pki.db.write() as session:
            hosts.add_token(session, token, lifetime)
        return token.text


@dataclass
class Agent:
    files: AgentFiles
    server: AgentServer
    driver: NoopDriver
    port: int
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"


@pytest.fixture
def controller(tmp_path: Path, db: Database) -> Iterator[Controller]:
    pki = ControllerPki(tmp_path / "controller", db, (LOOPBACK,))
    port = free_port()
    listener = JoinListener(pki, db, LOOPBACK, port)
    listener.start()
    wait_listening(port)
    yield Controller(pki, f"https://{LOOPBACK}:{port}", listener)
    listener.stop()


class NoopWithFacts(NoopDriver):
    """The noop data plane of a host whose facts differ from the default (its own
    --state-dir, an underlay address...)."""

    def __init__(self, **facts: Any) -> None:
        super().__init__()
        self.changes = facts

    def facts(self) -> HostFacts:
        return dataclasses.replace(super().facts(), **self.changes)


def start_agent(directory: Path, controller: Controller, name: str, **facts: Any) -> Agent:
    """An agent joined as `name` on a noop data plane; `facts`: HostFacts fields its host
    reports instead of the defaults."""
    files = AgentFiles(directory)
    port = free_port()
    join(controller.url, controller.token(), files, LOOPBACK, port, name=name)
    noop = NoopWithFacts(**facts) if facts else NoopDriver()
    server = AgentServer(files, noop, LOOPBACK, port, refresh=3600)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_listening(port)
    return Agent(files, server, noop, port, thread)


def stop_agent(agent: Agent) -> None:
    """Stop at once: a controller's keep-alive connection (the remote driver's, closed
    later by its own fixture) would hold a graceful shutdown for the whole join timeout."""
    agent.server.server.should_exit = True
    agent.server.server.force_exit = True
    agent.thread.join(timeout=10)
    assert not agent.thread.is_alive(), "the agent's server did not stop"


@pytest.fixture
def agent(tmp_path: Path, controller: Controller) -> Iterator[Agent]:
    one = start_agent(tmp_path / "agent", controller, "ag-host-1")
    yield one
    stop_agent(one)


@pytest.fixture
def two_agents(tmp_path: Path, controller: Controller) -> Iterator[list[Agent]]:
    both = [start_agent(tmp_path / f"agent{i}", controller, f"ag-host-{i}") for i in (1, 2)]
    yield both
    for one in both:
        stop_agent(one)


@pytest.fixture
def remote(db: Database, controller: Controller) -> Iterator[RemoteDriver]:
    drv = RemoteDriver(db, controller.pki)
    yield drv
    drv.close()


@pytest.fixture
def driver(remote: RemoteDriver) -> RemoteDriver:  # the worker of conftest drives agents
    return remote


def client_with(ca: Path | bytes, cert: Path | None, key: Path | None) -> httpx.Client:
    return httpx.Client(verify=contexts.client_context(ca, cert, key), timeout=5)


def controller_client(controller: Controller) -> httpx.Client:
    return client_with(controller.pki.ca_path, controller.pki.cert_path,
                       controller.pki.key_path)


def issue_files(ca: CertificateAuthority, directory: Path, role: str, name: str,
                **kwargs: Any) -> tuple[Path, Path]:
    key = new_key()
    issued = ca.issue(make_csr(key, name), role=role, name=name, addresses=(LOOPBACK,),
                      **kwargs)
    write_private(directory / f"{name}.key", key_pem(key))
    write_public(directory / f"{name}.pem", issued.pem)
    return directory / f"{name}.pem", directory / f"{name}.key"


# --- join ------------------------------------------------------------------------------------

def test_join_gives_the_host_a_certificate_for_its_id_and_address(
        agent: Agent, controller: Controller, db: Database) -> None:
    registration = agent.files.registration()
    cert = x509.load_pem_x509_certificate(agent.files.cert.read_bytes())
    assert common_name(cert) == registration.host_id
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == [LOOPBACK]
    assert agent.files.ca.read_bytes() == controller.pki.ca.pem
    assert oct(agent.files.key.stat().st_mode & 0o777) == "0o600"
    with db.read() as session:
        host = hosts.get(session, registration.host_id)
    assert host is not None
    assert (host.name, host.address, host.port, host.state) == \
        ("ag-host-1", LOOPBACK, agent.port, "UP")
    assert host.cert_serial == format(cert.serial_number, "x")


def test_a_token_joins_once(tmp_path: Path, controller: Controller) -> None:
    token = controller.token()
    join(controller.url, token, AgentFiles(tmp_path / "a1"), LOOPBACK, 1001)
    with pytest.raises(JoinError, match="already used"):
        join(controller.url, token, AgentFiles(tmp_path / "a2"), LOOPBACK, 1002)
    assert not AgentFiles(tmp_path / "a2").joined()


def test_an_expired_token_does_not_join(tmp_path: Path, controller: Controller,
                                        db: Database) -> None:
    token = controller.token(lifetime=dt.timedelta(seconds=-1))
    with pytest.raises(JoinError, match="expired"):
        join(controller.url, token, AgentFiles(tmp_path / "a"), LOOPBACK, 1001)
    with db.read() as session:
        assert hosts.all_hosts(session) == []


def test_a_token_for_another_ca_is_not_sent(tmp_path: Path, controller: Controller) -> None:
    other = CertificateAuthority.load_or_create(tmp_path / "other")
    token = tokens.new(other.fingerprint).text
    with pytest.raises(JoinError, match="does not match the token's fingerprint"):
        join(controller.url, token, AgentFiles(tmp_path / "a"), LOOPBACK, 1001)


# --- the agent API ------------------------------------------------------------------------

def test_version_discovery_for_the_controller(agent: Agent, controller: Controller) -> None:
    with controller_client(controller) as http:
        assert http.get(f"{agent.url}/").json()["versions"][0]["id"] == "v1"
        facts = http.get(f"{agent.url}/v1/facts").json()
    assert facts["host"] == agent.files.registration().host_id


def test_the_agent_refuses_every_client_but_a_valid_controller(
        tmp_path: Path, agent: Agent, controller: Controller) -> None:
    ca = controller.pki.ca
    certs = tmp_path / "certs"
    url = f"{agent.url}/v1/facts"
    with controller_client(controller) as http:
        assert http.get(url).status_code == 200

    with client_with(ca.pem, None, None) as http, pytest.raises(httpx.TransportError):
        http.get(url)  # no certificate

    other = CertificateAuthority.load_or_create(tmp_path / "other")
    cert, key = issue_files(other, certs, CONTROLLER, "forged")
    with client_with(ca.pem, cert, key) as http, pytest.raises(httpx.TransportError):
        http.get(url)  # a controller certificate from another CA

    cert, key = issue_files(ca, certs, CONTROLLER, "old", lifetime=dt.timedelta(minutes=1),
                            not_before=now() - dt.timedelta(hours=2))
    with client_with(ca.pem, cert, key) as http, pytest.raises(httpx.TransportError):
        http.get(url)  # expired

    with client_with(ca.pem, agent.files.cert, agent.files.key) as http, \
            pytest.raises(httpx.TransportError):
        http.get(url)  # an agent's certificate: the wrong role

    cert, key = issue_files(ca, certs, CONTROLLER, "revoked")
    with client_with(ca.pem, cert, key) as http:
        assert http.get(url).status_code == 200
    serial = format(x509.load_pem_x509_certificate(cert.read_bytes()).serial_number, "x")
    with controller.pki.db.write() as session:
        hosts.revoke(session, serial)
    assert agent.server.refresh() is False  # fetched the revoked list; no renewal due
    with client_with(ca.pem, cert, key) as http, pytest.raises(httpx.TransportError):
        http.get(url)  # revoked
    with controller_client(controller) as http:
        assert http.get(url).status_code == 200


def test_the_controller_refuses_a_server_that_is_not_the_host(
        tmp_path: Path, agent: Agent, controller: Controller, remote: RemoteDriver,
        db: Database) -> None:
    """Another host's agent answering at this host's address is refused by name."""
    with db.write() as session:
        impostor = hosts.add_host(session, hosts.Joining("ag-fake", LOOPBACK, agent.port),
                                  "0", dt.datetime(2030, 1, 1))
        host = hosts.get(session, impostor)
    assert host is not None
    with pytest.raises(Exception, match="is not for"):
        remote._call(host, "GET", "facts")
    with db.read() as session:
        assert hosts.get(session, impostor).state == "DOWN"  # type: ignore[union-attr]


# --- the worker drives the agent --------------------------------------------------------

def test_an_lb_lands_on_the_agent_and_goes_with_it(
        agent: Agent, client: Any, worker: Any, db: Database) -> None:
    lb = active_lb(client, worker)
    host_id = agent.files.registration().host_id
    with db.read() as session:
        rows = session.execute(select(amphora.c.id, amphora.c.compute_id).where(
            amphora.c.loadbalancer_id == lb["id"])).all()
    assert [r.compute_id for r in rows] == [host_id]
    assert set(agent.driver.bundles) == {rows[0].id}

    listed = client.get("/v2/lbaas/hosts").json()["hosts"]
    assert [(h["id"], h["state"], h["amphora_count"]) for h in listed] == \
        [(host_id, "UP", 1)]
    shown = client.get(f"/v2/octavia/amphorae/{rows[0].id}").json()["amphora"]
    assert shown["compute_id"] == host_id
    assert shown["cert_expiration"] == listed[0]["cert_expiration"] is not None
    assert client.delete(f"/v2/lbaas/hosts/{host_id}").status_code == 409

    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    worker.drain()
    assert agent.driver.bundles == {}
    assert client.get(f"/v2/lbaas/hosts/{host_id}").json()["host"]["amphora_count"] == 0


def test_removing_a_host_revokes_it(agent: Agent, client: Any, controller: Controller) -> None:
    host_id = agent.files.registration().host_id
    assert client.delete(f"/v2/lbaas/hosts/{host_id}").status_code == 204
    assert client.get(f"/v2/lbaas/hosts/{host_id}").status_code == 404
    with pytest.raises(httpx.TransportError):
        agent.server.refresh()  # the controller no longer talks to it


def test_tokens_through_the_api_are_admin_only_and_shown_once(
        client: Any, db: Database) -> None:
    resp = client.post("/v2/lbaas/hosts/tokens", json={"token": {"expires_in": 600}})
    assert resp.status_code == 201
    made = resp.json()["token"]
    parsed = tokens.parse(made["token"])
    assert parsed.ca_fingerprint == made["ca_fingerprint"]
    assert client.post("/v2/lbaas/hosts/tokens",
                       json={"token": {"expires_in": 10**9}}).status_code == 400
    for method, path in (("GET", "/lbaas/hosts"), ("GET", "/lbaas/hosts/{id}"),
                         ("POST", "/lbaas/hosts/tokens"), ("DELETE", "/lbaas/hosts/{id}")):
        assert policy.rule_for(method, path) == "admin"


def test_renewal_replaces_the_certificate_before_expiry(
        agent: Agent, controller: Controller, db: Database, client: Any, worker: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lb = active_lb(client, worker)
    before = x509.load_pem_x509_certificate(agent.files.cert.read_bytes())
    monkeypatch.setattr(agent_run, "renew_due", lambda cert: True)
    assert agent.server.refresh() is True
    after = x509.load_pem_x509_certificate(agent.files.cert.read_bytes())
    assert after.serial_number != before.serial_number
    assert common_name(after) == common_name(before)
    with db.read() as session:
        host = hosts.get(session, common_name(after))
    assert host is not None and host.cert_serial == format(after.serial_number, "x")
    with db.read() as session:  # Octavia's cert_expiration: the host's certificate
        expirations = session.scalars(select(amphora.c.cert_expiration).where(
            amphora.c.loadbalancer_id == lb["id"])).all()
    assert expirations == [after.not_valid_after_utc.replace(tzinfo=None)]
    with controller_client(controller) as http:  # the new certificate serves
        resp = http.get(f"{agent.url}/v1/facts")
        served = contexts.peer_der(resp)
    assert served is not None
    assert x509.load_der_x509_certificate(served).serial_number == after.serial_number


def test_join_listener_refuses_a_foreign_client_certificate(
        tmp_path: Path, controller: Controller) -> None:
    other = CertificateAuthority.load_or_create(tmp_path / "other")
    cert, key = issue_files(other, tmp_path / "c", "nslb-agent", "x")
    ctx = contexts.client_context(controller.pki.ca.pem, cert, key, check_hostname=False)
    with httpx.Client(verify=ctx, timeout=5) as http, pytest.raises(httpx.TransportError):
        http.get(f"{controller.url}/v1/revoked")
    blind = contexts.client_context(controller.pki.ca.pem, check_hostname=False)
    with httpx.Client(verify=blind, timeout=5) as http:  # no certificate: join only
        assert http.get(f"{controller.url}/v1/revoked").status_code == 401
        assert http.get(f"{controller.url}/v1/ca").content == controller.pki.ca.pem


def test_the_controller_renews_its_own_certificate_and_keeps_calling(
        agent: Agent, controller: Controller, remote: RemoteDriver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert remote.existing() == set()
    before = x509.load_pem_x509_certificate(controller.pki.cert_path.read_bytes())
    monkeypatch.setattr(ca_module, "renew_due", lambda cert: True)
    controller.pki._due_at = 0.0
    assert remote.existing() == set()  # reissued, a new client, and the agent accepts it
    after = x509.load_pem_x509_certificate(controller.pki.cert_path.read_bytes())
    assert after.serial_number != before.serial_number
    assert controller.pki.generation == 1


def test_agents_setting_is_checked() -> None:
    assert load(overrides={"agents": "remote"}, environ={}).agents == "remote"
    assert load(environ={}).agents == "local"  # the embedded default does not change
    with pytest.raises(ConfigError, match="local or remote"):
        load(overrides={"agents": "elsewhere"}, environ={})
    with pytest.raises(ConfigError, match="--agent-listen"):
        load(overrides={"agent_listen": "nowhere"}, environ={})


def test_an_active_standby_pair_lands_on_two_hosts(
        tmp_path: Path, two_agents: list[Agent], db: Database, worker: Any) -> None:
    settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS), topology="ACTIVE_STANDBY")
    with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
        first = active_lb(client, worker)
        second = active_lb(client, worker)
    with db.read() as session:
        rows = session.execute(select(amphora.c.loadbalancer_id, amphora.c.compute_id)).all()
    placed: dict[str, list[str]] = {}
    for row in rows:
        placed.setdefault(row.loadbalancer_id, []).append(row.compute_id)
    ids = {a.files.registration().host_id for a in two_agents}
    for lb in (first, second):
        assert sorted(placed[lb["id"]]) == sorted(ids)  # one amphora on each host
    assert [len(a.driver.bundles) for a in two_agents] == [2, 2]


def test_a_bundle_rendered_for_another_state_dir_is_refused(
        agent: Agent, controller: Controller) -> None:
    amphora_id = "6b0d2e8c-5f7a-4c1e-9a3b-2d4f6e8a0c1b"
    bundle = Bundle(amphora_id=amphora_id, loadbalancer_id=amphora_id, generation=1)
    url = f"{agent.url}/v1/amphorae/{amphora_id}"
    with controller_client(controller) as http:
        refused = http.put(url, content=bundle.to_json(),
                           headers={"x-nslb-rendered-for": "/srv/elsewhere"})
        assert refused.status_code == 409
        assert refused.json()["kind"] == "other_state_dir"
        assert "this host's own --state-dir" in refused.json()["error"]
        assert agent.driver.bundles == {}
        taken = http.put(url, content=bundle.to_json(),
                         headers={"x-nslb-rendered-for": "/var/lib/nslb"})
        assert taken.json() == {"hash": bundle.hash}
        assert http.put(f"{agent.url}/v1/amphorae/not-an-id",
                        content=bundle.to_json()).status_code == 404



def test_an_older_generation_is_refused_with_the_one_served(
        agent: Agent, client: Any, worker: Any, remote: RemoteDriver,
        controller: Controller) -> None:
    """The agent answers 409 "superseded" with the generation it serves, and the remote
    driver raises Superseded again (the worker then catches the LB up, or a stalled
    controller loses its lease)."""
    lb = active_lb(client, worker)
    (amphora_id,) = agent.driver.bundles
    serving = agent.driver.bundles[amphora_id]
    older = Bundle(amphora_id=amphora_id, loadbalancer_id=lb["id"],
                   generation=serving.generation - 1, files={"haproxy.cfg": "# older\n"})
    with pytest.raises(Superseded) as caught:
        remote.apply(older)
    assert caught.value.serving == serving.generation
    with controller_client(controller) as http:
        refused = http.put(f"{agent.url}/v1/amphorae/{amphora_id}", content=older.to_json())
    assert refused.status_code == 409
    assert refused.json()["kind"] == "superseded"
    assert refused.json()["generation"] == serving.generation
    assert agent.driver.bundles[amphora_id] is serving


def test_agents_with_their_own_state_dirs_get_configs_for_them(
        tmp_path: Path, controller: Controller, db: Database, worker: Any) -> None:
    """Each amphora's bundle is rendered for its own host's facts: two agents with
    different --state-dir paths each get configs naming their own (and the agent's check
    that a bundle was rendered for it passes)."""
    dirs = ["/srv/nslb-a", "/srv/nslb-b"]
    agents = [start_agent(tmp_path / f"agent{i}", controller, f"ag-host-{i}", state_dir=d)
              for i, d in enumerate(dirs, start=1)]
    try:
        settings = Settings(state_dir=tmp_path, physnet=list(PHYSNETS),
                            topology="ACTIVE_STANDBY")
        with TestClient(create_app(settings, db), headers={"X-Project-Id": PROJECT}) as client:
            lb = active_lb(client, worker)
        assert lb["provisioning_status"] == "ACTIVE"
        for one, state_dir in zip(agents, dirs, strict=True):
            (bundle,) = one.driver.bundles.values()
            config = bundle.files["haproxy.cfg"]
            assert f"stats socket {state_dir}/amp/{bundle.amphora_id}/stats.sock" in config
            assert all(d not in config for d in dirs if d != state_dir)
    finally:
        for one in agents:
            stop_agent(one)
