"""Cross-project isolation: the probe's reproductions of F3 (a port planted on a shared
network and adopted by another project's LB), F9 (marker, sort and validation-message
oracles), F11 (Neutron bodies that reached the database as 500s) and F13 (IPAM by text).

Project A owns a load balancer whose member sits on the admin's shared network; project B
attacks it with three personas (member, reader, load-balancer_observer). Personas come
from a context that reads the roles from a header, as the noauth tier builds non-admins,
so these tests depend on the policy table and nothing in the identity service.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from starlette.requests import Request
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.api.context import Context
from nslb.config import Settings
from nslb.db import ports as repo
from nslb.db.engine import Database
from nslb.db.lb_ports import MEMBER_OWNER, member_port_name
from nslb.db.migrate import upgrade
from nslb.db.snapshots import build
from nslb.db.tables import ip_allocation
from nslb.model.resources import LoadBalancer
from nslb.worker.loop import Worker
from tests.functional.keystone_helpers import keystone_cloud

pytestmark = pytest.mark.security

NET = "/networking/v2.0"
LBAAS = "/v2/lbaas"
LB_URL = f"{LBAAS}/loadbalancers"
A, B = "a0000000000000000000000000000000a", "b0000000000000000000000000000000b"
ROLES = {"admin": ("admin",), "a_member": ("member",), "b_member": ("member",),
         "b_reader": ("reader",), "b_observer": ("load-balancer_observer",)}
PROJECT_OF = {"admin": "admin-project", "a_member": A}
B_PERSONAS = ("b_member", "b_reader", "b_observer")
PLANTED = {"network_id": "", "device_owner": "nslb:member", "device_id": "",
           "fixed_ips": [{"subnet_id": "", "ip_address": "10.62.0.1"}]}


def persona_context(request: Request) -> Context:
    roles = frozenset(request.headers.get("x-roles", "").split(","))
    return Context(project_id=request.headers.get("x-project-id"), roles=roles)


@dataclass
class World:
    client: TestClient
    db: Database
    worker: Worker
    ids: dict[str, str] = field(default_factory=dict)

    def call(self, who: str, method: str, url: str, **kw: Any) -> Any:
        headers = {"X-Project-Id": PROJECT_OF.get(who, B), "X-Roles": ",".join(ROLES[who])}
        return self.client.request(method, url, headers=headers, **kw)

    def ok(self, who: str, method: str, url: str, status: int, **kw: Any) -> Any:
        resp = self.call(who, method, url, **kw)
        assert resp.status_code == status, (who, method, url, resp.text)
        return resp.json() if resp.content else None

    def make(self, who: str, kind: str, status: int = 201, **attrs: Any) -> Any:
        """POST a Neutron object; its body, or the NeutronError on an error status."""
        body = self.ok(who, "POST", f"{NET}/{kind}s", status, json={kind: attrs})
        return body[kind] if status == 201 else neutron_error(body)

    def member_port_addresses(self, lb_id: str) -> list[str]:
        with self.db.read() as session:
            lb = session.get(LoadBalancer, lb_id)
            assert lb is not None
            snap = build(session, lb)
            return [m.port.fixed_ips[0]["ip_address"] for m in snap.member_ports]


def neutron_error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"NeutronError"}, body
    fault: dict[str, Any] = body["NeutronError"]
    assert set(fault) == {"type", "message", "detail"}, fault
    return fault


def build_world(db: Database, settings: Settings, worker: Worker) -> Iterator[World]:
    app = create_app(settings, db, context_for=persona_context)
    with TestClient(app) as client:
        w = World(client, db, worker)
        flat: dict[str, Any] = {"provider:network_type": "flat",
                                "provider:physical_network": "physnet1"}
        pub = w.make("admin", "network", name="pub", shared=True, **flat)
        w.ids["pub"] = pub["id"]
        w.ids["pub-subnet"] = w.make("admin", "subnet", network_id=pub["id"],
                                     cidr="10.62.0.0/24", ip_version=4)["id"]
        a_shared = w.make("admin", "network", name="a-shared", shared=True, project_id=A,
                          **{**flat, "provider:physical_network": "physnet2"})
        w.ids["a-shared"] = a_shared["id"]
        w.ids["a-shared-subnet"] = w.make("a_member", "subnet", network_id=a_shared["id"],
                                          cidr="10.63.0.0/24", ip_version=4)["id"]
        for who, cidr in (("a_member", "10.20.0.0/24"), ("b_member", "10.30.0.0/24")):
            net = w.make(who, "network", name=f"{who}-net")
            w.ids[f"{who}-net"] = net["id"]
            w.ids[f"{who}-subnet"] = w.make(who, "subnet", network_id=net["id"], cidr=cidr,
                                            ip_version=4)["id"]
        members = [{"address": f"{prefix}.11", "protocol_port": 80, "subnet_id": w.ids[sub]}
                   for prefix, sub in (("10.62.0", "pub-subnet"),
                                       ("10.63.0", "a-shared-subnet"))]
        lb = w.ok("a_member", "POST", LB_URL, 201, json={"loadbalancer": {
            "name": "zz-secret-lb-A", "vip_subnet_id": w.ids["a_member-subnet"],
            "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": members}]}})["loadbalancer"]
        w.ids["a-lb"], w.ids["a-pool"] = lb["id"], lb["pools"][0]["id"]
        b_lb = w.ok("b_member", "POST", LB_URL, 201, json={"loadbalancer": {
            "name": "b-lb", "vip_subnet_id": w.ids["b_member-subnet"],
            "pools": [{"name": "bp", "protocol": "HTTP",
                       "lb_algorithm": "ROUND_ROBIN"}]}})["loadbalancer"]
        w.ids["b-lb"], w.ids["b-pool"] = b_lb["id"], b_lb["pools"][0]["id"]
        w.ids["a-port"] = w.make("a_member", "port", network_id=w.ids["a_member-net"])["id"]
        w.ok("admin", "PUT", f"{LBAAS}/quotas/{A}", 202, json={"quota": {"loadbalancer": 5}})
        worker.drain()
        yield w


@pytest.fixture
def world(db: Database, settings: Settings, worker: Worker) -> Iterator[World]:
    """A fresh world on SQLite, for tests that change it."""
    yield from build_world(db, settings, worker)


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster, as the PostgreSQL tier makes one (skips without)."""
    pg = pytest.importorskip("tests.functional.test_postgres")
    bin_dir = pg._pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found")
    root = Path(tempfile.mkdtemp(prefix="nslb-pg-"))
    (root / "owner.pid").write_text(str(os.getpid()))
    cluster = None
    try:
        cluster = pg.Cluster(bin_dir, root)
        cluster.start()
        yield cluster
    finally:
        try:
            if cluster is not None:
                cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres)])
def any_db_world(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world per database (SQLite, PostgreSQL) shared by the probes that change
    nothing in it but what they clean up or rename themselves."""
    state = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        db = Database(f"sqlite:///{state / 'nslb.db'}")
    else:
        cluster = request.getfixturevalue("pg_cluster")
        db = Database(cluster.url(cluster.create_database()))
    assert db.engine.dialect.name == request.param
    upgrade(db)
    settings = Settings(state_dir=state, physnet=["physnet1:nslbs-br1", "physnet2:nslbs-br2"])
    worker = Worker(db, NoopDriver(), resync_interval=3600)
    try:
        yield from build_world(db, settings, worker)
    finally:
        worker.stop()
        db.dispose()


def anonymised(resp: Any, marker: str) -> tuple[int, str]:
    """Status and body with the one value the caller chose (the id it asked about) masked."""
    return resp.status_code, resp.text.replace(marker, "<id>")


# --- F3: ports on a shared network --------------------------------------------------------


@pytest.mark.parametrize(("network", "gateway"), [("pub", "10.62.0.1"),
                                                  ("a-shared", "10.63.0.1")])
def test_probe_planted_port_is_refused_and_never_plugged(world: World, network: str,
                                                         gateway: str) -> None:
    """The probe's request, as project B on a shared network (the admin's, and one that
    project A owns), naming A's LB and the shared subnet's gateway."""
    before = world.member_port_addresses(world.ids["a-lb"])
    assert sorted(before) == ["10.62.0.2", "10.63.0.2"]  # nslb's own ports, one per subnet
    planted = {**PLANTED, "network_id": world.ids[network], "device_id": world.ids["a-lb"],
               "fixed_ips": [{"subnet_id": world.ids[f"{network}-subnet"],
                              "ip_address": gateway}]}
    fault = world.make("b_member", "port", 403, **planted)
    assert fault["type"] == "PolicyNotAuthorized"
    mine = world.ok("admin", "GET", f"{NET}/ports?device_id={world.ids['a-lb']}", 200)["ports"]
    assert [p["project_id"] for p in mine] == [A, A]
    world.worker.drain()
    assert world.member_port_addresses(world.ids["a-lb"]) == before


@pytest.mark.parametrize("network", ["pub", "a-shared"])
@pytest.mark.parametrize(("attrs", "rule"), [
    ({"device_owner": "nslb:member"}, None),
    ({"device_owner": "Octavia", "device_id": "lb-x"}, None),
    ({"device_owner": "network:router_interface"}, "create_port:device_owner"),
    ({"device_owner": "neutron:LOADBALANCERV2"}, "create_port:device_owner"),
    ({"fixed_ips": [{"ip_address": ".0.50"}]}, "create_port:fixed_ips:ip_address"),
    ({"fixed_ips": [{"ip_address": ".0.1"}], "device_owner": "compute:nova"},
     "create_port:fixed_ips:ip_address"),
])
def test_shared_network_ports_follow_neutron_policy(world: World, network: str,
                                                    attrs: dict[str, Any],
                                                    rule: str | None) -> None:
    prefix = "10.62" if network == "pub" else "10.63"
    if "fixed_ips" in attrs:
        attrs = {**attrs, "fixed_ips": [{"ip_address": prefix + f["ip_address"]}
                                        for f in attrs["fixed_ips"]]}
    fault = world.make("b_member", "port", 403, network_id=world.ids[network], **attrs)
    assert fault["type"] == "PolicyNotAuthorized"
    if rule:
        assert fault["message"] == f"(rule:create_port and rule:{rule}) is disallowed by policy"
    # a plain port still works: the next free address, never the gateway
    port = world.make("b_member", "port", network_id=world.ids[network])
    assert port["fixed_ips"][0]["ip_address"] not in (f"{prefix}.0.1", f"{prefix}.0.11")


def test_gateway_address_is_admin_only(world: World) -> None:
    own = world.ids["b_member-net"]
    fault = world.make("b_member", "port", 403, network_id=own,
                       fixed_ips=[{"ip_address": "10.30.0.1"}])
    assert fault["type"] == "PolicyNotAuthorized" and "gateway" in fault["message"]
    world.make("b_member", "port", network_id=own, fixed_ips=[{"ip_address": "10.30.0.9"}],
               device_owner="network:dhcp")  # the network's owner may
    vip = world.call("b_member", "POST", LB_URL, json={"loadbalancer": {
        "vip_subnet_id": world.ids["b_member-subnet"], "vip_address": "10.30.0.1"}})
    assert vip.status_code == 403 and "gateway" in vip.json()["faultstring"]
    # A owns its shared network: it chooses addresses there, but not the gateway
    world.make("a_member", "port", network_id=world.ids["a-shared"],
               fixed_ips=[{"ip_address": "10.63.0.50"}], device_owner="network:dhcp")
    fault = world.make("a_member", "port", 403, network_id=world.ids["a-shared"],
                       fixed_ips=[{"ip_address": "10.63.0.1"}])
    assert "gateway" in fault["message"]
    admin = world.make("admin", "port", network_id=world.ids["pub"],
                       fixed_ips=[{"ip_address": "10.62.0.1"}])
    assert admin["fixed_ips"][0]["ip_address"] == "10.62.0.1"


def test_snapshot_plugs_only_ports_nslb_created(world: World) -> None:
    """Ports planted directly in the database (an older version's API, or by hand) that
    claim nslb's owner and A's LB are left out of A's snapshot."""
    lb_id = world.ids["a-lb"]
    before = world.member_port_addresses(lb_id)
    with world.db.write() as session:
        network = repo.get_network(session, world.ids["pub"])
        subnet = repo.get_subnet(session, world.ids["pub-subnet"])
        assert network is not None and subnet is not None
        for project, name, address in ((B, member_port_name(lb_id), "10.62.0.1"),
                                       (A, "", "10.62.0.200"),
                                       (A, "nslb-member-other", "10.62.0.201")):
            repo.allocate_port(session, network=network, subnet=subnet, ip_address=address,
                               project_id=project, device_owner=MEMBER_OWNER,
                               device_id=lb_id, name=name, allow_gateway=True)
    assert world.member_port_addresses(lb_id) == before
    world.worker.drain()
    lb = world.ok("a_member", "GET", f"{LB_URL}/{lb_id}", 200)["loadbalancer"]
    assert lb["provisioning_status"] == "ACTIVE"
    # the planted ports can be cleaned up by their projects; nslb's own stays nslb's
    ports = world.ok("admin", "GET", f"{NET}/ports?device_id={lb_id}", 200)["ports"]
    for port in ports:
        who = "b_member" if port["project_id"] == B else "a_member"
        ours = port["fixed_ips"][0]["ip_address"] in before
        world.ok(who, "DELETE", f"{NET}/ports/{port['id']}", 409 if ours else 204)
    assert world.member_port_addresses(lb_id) == before


# --- F9: oracles --------------------------------------------------------------------------

MARKED = [  # (collection url, which of A's objects the marker names)
    (LB_URL, "a-lb"), (f"{LBAAS}/pools", "a-pool"), (f"{LBAAS}/quotas", "A"),
    (f"{NET}/networks", "a_member-net"), (f"{NET}/subnets", "a_member-subnet"),
    (f"{NET}/ports", "a-port"),
]


@pytest.mark.parametrize("who", B_PERSONAS)
@pytest.mark.parametrize(("url", "target"), MARKED)
def test_marker_of_another_project_answers_like_a_random_one(any_db_world: World, who: str,
                                                             url: str, target: str) -> None:
    theirs = A if target == "A" else any_db_world.ids[target]
    random_id = str(uuid.uuid4())
    answers = {anonymised(any_db_world.call(who, "GET", f"{url}?marker={marker}&limit=5"), marker)
               for marker in (theirs, random_id)}
    assert len(answers) == 1, answers
    [(status, _text)] = answers
    assert status in (400, 404)
    own = any_db_world.ids["b-lb"] if url == LB_URL else None
    if own:  # a marker the caller may list still pages
        assert any_db_world.ok(who, "GET", f"{url}?marker={own}", 200)["loadbalancers"] == []


@pytest.mark.parametrize("own_name", ["zz-secret-lb-0", "zz-secret-lb-B", "aaa", "zzzz"])
def test_sort_and_marker_reveal_no_value(any_db_world: World, own_name: str) -> None:
    """The probe's binary search: B renames its LB and lists after A's LB by name."""
    any_db_world.ok("b_member", "PUT", f"{LB_URL}/{any_db_world.ids['b-lb']}", 200,
             json={"loadbalancer": {"name": own_name}})
    any_db_world.worker.drain()
    for sort in ("name:asc", "name:desc", "description:asc", "vip_address:asc"):
        answers = {anonymised(any_db_world.call("b_member", "GET",
                                         f"{LB_URL}?sort={sort}&marker={marker}"), marker)
                   for marker in (any_db_world.ids["a-lb"], str(uuid.uuid4()))}
        assert len(answers) == 1, (sort, answers)
        [(status, text)] = answers
        assert status == 400 and "Supplied pagination marker '<id>' is not valid." in text


@pytest.mark.parametrize("who", ["b_member"])
@pytest.mark.parametrize("address", ["10.20.0.5", "10.99.0.5"])
def test_member_subnet_of_another_project_hides_its_cidr(any_db_world: World, who: str,
                                                         address: str) -> None:
    """Inside or outside A's private CIDR, and a subnet that does not exist: one answer."""
    url = f"{LBAAS}/pools/{any_db_world.ids['b-pool']}/members"
    answers = set()
    for subnet_id in (any_db_world.ids["a_member-subnet"], str(uuid.uuid4())):
        single = any_db_world.call(who, "POST", url, json={"member": {
            "address": address, "protocol_port": 80, "subnet_id": subnet_id}})
        tree = any_db_world.call(who, "POST", LB_URL, json={"loadbalancer": {
            "vip_subnet_id": any_db_world.ids["b_member-subnet"],
            "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [
                {"address": address, "protocol_port": 80, "subnet_id": subnet_id}]}]}})
        answers |= {anonymised(single, subnet_id), anonymised(tree, subnet_id)}
    assert answers == {(400, '{"faultcode":"Client","faultstring":"Validation failure: '
                             'Subnet <id> not found.","debuginfo":null}')}


@pytest.mark.parametrize("address", [None, "10.20.0.5", "10.99.0.5"])
def test_port_fixed_ip_subnet_of_another_project_is_not_found(any_db_world: World,
                                                             address: str | None) -> None:
    answers = set()
    for subnet_id in (any_db_world.ids["a_member-subnet"], str(uuid.uuid4())):
        fixed = {"subnet_id": subnet_id, **({"ip_address": address} if address else {})}
        resp = any_db_world.call("b_member", "POST", f"{NET}/ports", json={"port": {
            "network_id": any_db_world.ids["b_member-net"], "fixed_ips": [fixed]}})
        answers.add(anonymised(resp, subnet_id))
    [(status, text)] = answers
    assert status == 404 and "SubnetNotFound" in text and "Subnet <id> could not be found" in text


@pytest.mark.parametrize("who", ["admin", *B_PERSONAS])
def test_quota_list_with_any_marker_is_never_a_500(any_db_world: World, who: str) -> None:
    for marker in ("x", str(uuid.uuid4()), "'; drop table quota; --", "0" * 5000):
        resp = any_db_world.call(who, "GET", f"{LBAAS}/quotas", params={"marker": marker})
        assert resp.status_code == 400, resp.text
        assert "pagination marker" in resp.json()["faultstring"]
        assert len(resp.text) < 500


def test_quota_list_pages_by_project(world: World) -> None:
    world.ok("admin", "PUT", f"{LBAAS}/quotas/{B}", 202, json={"quota": {"pool": 3}})
    seen, url = [], f"{LBAAS}/quotas?limit=1"
    while url:
        body = world.ok("admin", "GET", url.removeprefix("http://testserver"), 200)
        seen += [q["project_id"] for q in body["quotas"]]
        nxt = [link["href"] for link in body["quotas_links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else ""
    assert seen == sorted([A, B])
    mine = world.ok("b_member", "GET", f"{LBAAS}/quotas?marker={B}", 200)["quotas"]
    assert mine == []  # B's own row is the marker; nothing of A's comes after it


# --- F13: IPAM by value -------------------------------------------------------------------


def test_one_address_is_allocated_once_whatever_its_spelling(world: World) -> None:
    net = world.make("admin", "network", name="v6")
    sub = world.make("admin", "subnet", network_id=net["id"], cidr="fd88::/64", ip_version=6)
    first = world.make("admin", "port", network_id=net["id"],
                       fixed_ips=[{"ip_address": "fd88::1:77"}])
    assert first["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "fd88::1:77"}]
    again = world.make("admin", "port", 409, network_id=net["id"],
                       fixed_ips=[{"subnet_id": sub["id"], "ip_address": "FD88:0::1:77"}])
    assert again["type"] == "IpAddressInUse"
    for scoped in ("fd88::1:77%x", "fd88::1:77%z", "fd88::1:78%lo]:80\n#"):
        fault = world.make("admin", "port", 400, network_id=net["id"],
                           fixed_ips=[{"ip_address": scoped}])
        assert fault["message"].endswith("is not a valid IP address.")
    vip = world.call("admin", "POST", LB_URL, json={"loadbalancer": {
        "vip_subnet_id": sub["id"], "vip_address": "FD88:0:0::1:77"}})
    assert vip.status_code == 409, vip.text
    with world.db.read() as session:
        rows = session.execute(select(ip_allocation.c.ip_address).where(
            ip_allocation.c.subnet_id == sub["id"])).scalars().all()
    assert sorted(rows) == ["fd88::1:77"]


def test_legacy_scoped_allocation_still_counts(world: World) -> None:
    """A row an older version stored with a scope id blocks its address and breaks nothing."""
    net = world.make("admin", "network", name="legacy")
    sub = world.make("admin", "subnet", network_id=net["id"], cidr="fd89::/126", ip_version=6)
    holder = world.make("admin", "port", network_id=net["id"])  # fd89::2
    with world.db.write() as session:
        session.execute(insert(ip_allocation).values(
            subnet_id=sub["id"], ip_address="fd89::3%x", port_id=holder["id"]))
    taken = world.make("admin", "port", 409, network_id=net["id"],
                       fixed_ips=[{"ip_address": "fd89::3"}])
    assert taken["type"] == "IpAddressInUse"
    exhausted = world.make("admin", "port", 409, network_id=net["id"])
    assert exhausted["type"] == "IpAddressGenerationFailure"


@pytest.mark.parametrize("attrs", [
    {"gateway_ip": "10.5.0.1%x"},
    {"allocation_pools": [{"start": "10.5.0.10%x", "end": "10.5.0.20"}]},
    {"dns_nameservers": ["10.5.0.53%eth0"]},
    {"dns_nameservers": ["fe80::1%lo]\n#"]},
    {"host_routes": [{"destination": "10.9.0.0/24", "nexthop": "10.5.0.1%x"}]},
    {"host_routes": [{"destination": "10.9.0.0/24%x", "nexthop": "10.5.0.1"}]},
    {"host_routes": [{"destination": "fd00::/64", "nexthop": "10.5.0.1"}]},
    {"host_routes": [{"destination": "10.9.0.1/24", "nexthop": "10.5.0.1"}]},
    {"dns_nameservers": ["10.5.0.53", "10.5.0.053"]},
    {"dns_nameservers": [f"10.5.0.{i}" for i in range(6)]},
    {"host_routes": [{"destination": f"10.{i}.0.0/16", "nexthop": "10.5.0.1"}
                     for i in range(21)]},
    {"cidr": "10.5.0.0/24%x"},
])
def test_subnet_addresses_go_through_the_strict_parser(any_db_world: World,
                                                       attrs: dict[str, Any]) -> None:
    net = any_db_world.make("b_member", "network", name="strict")
    body = {"network_id": net["id"], "cidr": "10.5.0.0/24", "ip_version": 4, **attrs}
    fault = any_db_world.make("b_member", "subnet", 400, **body)
    assert len(fault["message"]) < 300


def test_subnet_addresses_are_stored_canonical(world: World) -> None:
    net = world.make("b_member", "network", name="canon")
    sub = world.make("b_member", "subnet", network_id=net["id"], cidr="fd90::/64",
                     ip_version=6, dns_nameservers=["FD90:0::53"],
                     host_routes=[{"destination": "FD91:0::/64", "nexthop": "FD90::0:1"}])
    assert sub["dns_nameservers"] == ["fd90::53"]
    assert sub["host_routes"] == [{"destination": "fd91::/64", "nexthop": "fd90::1"}]
    dup = world.call("b_member", "PUT", f"{NET}/subnets/{sub['id']}", json={"subnet": {
        "dns_nameservers": ["fd90::53", "FD90::53"]}})
    assert dup.status_code == 400 and "Duplicate nameserver" in dup.text


# --- F11: Neutron bodies never reach the database unchecked --------------------------------

LONG = "x" * 5000
BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    *[("network", {key: value}) for key in ("project_id", "tenant_id")
      for value in ([A], {"id": A}, 5, 2**63, 2**64, 1.5, True, LONG, "y" * 256)],
    ("network", {"name": "n" * 256}), ("network", {"description": "d" * 256}),
    ("network", {"tags": ["t" * 256]}), ("network", {"tags": [["nested"]]}),
    ("network", {"mtu": 2**63}), ("network", {"mtu": -(2**64)}),
    *[("network", {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                   "provider:segmentation_id": value})
      for value in (2**31, 2**63, 2**64, 10**30, -1, 0)],
    ("network", {"provider:physical_network": LONG}),
    ("network", {"provider:network_type": LONG}),
    ("network", {"availability_zone_hints": [LONG]}),
    ("subnet", {"ip_version": 2**64}), ("subnet", {"ip_version": 2**63}),
    ("subnet", {"project_id": [A]}), ("subnet", {"tenant_id": LONG}),
    ("subnet", {"name": "n" * 256}), ("subnet", {"cidr": LONG}),
    ("subnet", {"gateway_ip": LONG}), ("subnet", {"dns_nameservers": [LONG]}),
    ("subnet", {"host_routes": [{"destination": LONG, "nexthop": LONG}]}),
    ("subnet", {"network_id": LONG}), ("subnet", {"network_id": 2**64}),
    ("port", {"project_id": {"a": 1}}), ("port", {"tenant_id": 2**63}),
    ("port", {"project_id": LONG}), ("port", {"device_id": "d" * 256}),
    ("port", {"device_owner": "o" * 256}), ("port", {"name": "n" * 256}),
    ("port", {"fixed_ips": [{"subnet_id": LONG}]}),
    ("port", {"fixed_ips": [{"ip_address": 2**64}]}),
    ("port", {"fixed_ips": [{"ip_address": LONG}]}),
    ("port", {"network_id": LONG}), ("port", {"tags": ["t" * 256]}),
]


@pytest.mark.parametrize(("kind", "attrs"), BAD_BODIES,
                         ids=[f"{k}-{'-'.join(a)}-{i}" for i, (k, a) in enumerate(BAD_BODIES)])
def test_bad_neutron_bodies_are_4xx_never_500(any_db_world: World, kind: str,
                                              attrs: dict[str, Any]) -> None:
    """Over-long, non-string and out-of-range values are refused before any database sees
    them (SQLite overflowed on 2**63, PostgreSQL refused 5,000-character project ids)."""
    world = any_db_world
    bases: dict[str, dict[str, Any]] = {
        "network": {"name": "fuzz"},
        "subnet": {"network_id": world.ids["b_member-net"], "cidr": "10.77.0.0/24",
                   "ip_version": 4},
        "port": {"network_id": world.ids["b_member-net"]},
    }
    for who in ("admin", "b_member"):
        resp = world.call(who, "POST", f"{NET}/{kind}s",
                          json={kind: {**bases[kind], **attrs}})
        allowed = (400, 404) if who == "admin" else (400, 403, 404)
        assert resp.status_code in allowed, (who, resp.status_code, resp.text[:300])
        fault = neutron_error(resp.json())
        assert len(fault["message"]) < 1000, fault["message"][:200]


BAD_QUERIES = [
    {"mtu": str(2**64)}, {"mtu": str(2**63)}, {"mtu": "1e3"}, {"created_at": "yesterday"},
    {"updated_at": str(2**64)}, {"name": LONG}, {"id": LONG}, {"project_id": LONG},
    {"sort": LONG}, {"sort": f"name:{LONG}"}, {"marker": LONG}, {"limit": str(2**64)},
    {"shared": "maybe"}, {"tags": LONG}, {"fields": LONG},
]


@pytest.mark.parametrize("who", ["admin", "b_reader"])
@pytest.mark.parametrize("url", [f"{NET}/networks", f"{NET}/subnets", f"{NET}/ports", LB_URL,
                                 f"{LBAAS}/pools", f"{LBAAS}/quotas"])
def test_bad_list_queries_are_never_500(any_db_world: World, who: str, url: str) -> None:
    for params in BAD_QUERIES:
        resp = any_db_world.call(who, "GET", url, params=params)
        assert resp.status_code in (200, 400, 404), (params, resp.status_code, resp.text[:300])
        assert len(resp.content) < 20_000, params
    stamp = any_db_world.ok(who, "GET", f"{NET}/networks", 200)["networks"][0]["created_at"]
    same = any_db_world.ok(who, "GET", f"{NET}/networks", 200, params={"created_at": stamp})
    assert same["networks"] and all(n["created_at"] == stamp for n in same["networks"])


def test_quota_of_an_over_long_project_is_a_400(any_db_world: World) -> None:
    """PostgreSQL refused a 5,000-character project id in the quota row (a 500, F11)."""
    resp = any_db_world.call("admin", "PUT", f"{LBAAS}/quotas/{'p' * 5000}",
                             json={"quota": {"loadbalancer": 1}})
    assert resp.status_code == 400 and len(resp.text) < 400, resp.text[:300]
    assert any_db_world.ok("admin", "GET", f"{LBAAS}/quotas/{'p' * 5000}", 200)["quota"]
    any_db_world.ok("admin", "DELETE", f"{LBAAS}/quotas/{'p' * 5000}", 202)


# --- the same probes with real Keystone tokens -------------------------------------------


def test_probe_with_keystone_tokens(tmp_path: Path) -> None:
    """bob (member of B) against alice's (member of A) load balancer, as the probe ran it:
    the planted port, the marker oracle and the member-subnet CIDR oracle."""
    with keystone_cloud(tmp_path) as cloud:
        for name in ("A", "B"):
            cloud.project(name)
        alice = cloud.persona("alice", "A", "member")
        bob = cloud.persona("bob", "B", "member")

        def call(headers: dict[str, str], method: str, url: str, **kw: Any) -> Any:
            return cloud.client.request(method, url, headers=headers, **kw)

        pub = cloud.as_admin("POST", f"{NET}/networks", 201, json={"network": {
            "name": "pub", "shared": True, "provider:network_type": "flat",
            "provider:physical_network": "physnet1"}})["network"]
        pub_sub = cloud.as_admin("POST", f"{NET}/subnets", 201, json={"subnet": {
            "network_id": pub["id"], "cidr": "10.62.0.0/24", "ip_version": 4}})["subnet"]
        a_net = call(alice, "POST", f"{NET}/networks", json={"network": {}}).json()["network"]
        a_sub = call(alice, "POST", f"{NET}/subnets", json={"subnet": {
            "network_id": a_net["id"], "cidr": "10.20.0.0/24", "ip_version": 4}}).json()["subnet"]
        lb = call(alice, "POST", LB_URL, json={"loadbalancer": {
            "name": "zz-secret-lb-A", "vip_subnet_id": pub_sub["id"],
            "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]}})
        assert lb.status_code == 201, lb.text
        cloud.worker.drain()
        a_lb = lb.json()["loadbalancer"]

        planted = call(bob, "POST", f"{NET}/ports", json={"port": {
            "network_id": pub["id"], "device_owner": "nslb:member", "device_id": a_lb["id"],
            "fixed_ips": [{"subnet_id": pub_sub["id"], "ip_address": "10.62.0.1"}]}})
        assert planted.status_code == 403
        assert neutron_error(planted.json())["type"] == "PolicyNotAuthorized"

        for url, theirs in ((LB_URL, a_lb["id"]), (f"{NET}/networks", a_net["id"])):
            answers = {anonymised(call(bob, "GET", f"{url}?marker={m}&sort=name:asc"), m)
                       for m in (theirs, str(uuid.uuid4()))}
            assert len(answers) == 1, answers

        b_lb = call(bob, "POST", LB_URL, json={"loadbalancer": {
            "vip_subnet_id": pub_sub["id"],
            "pools": [{"name": "bp", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]}})
        cloud.worker.drain()
        pool_id = b_lb.json()["loadbalancer"]["pools"][0]["id"]
        answers = {anonymised(call(bob, "POST", f"{LBAAS}/pools/{pool_id}/members", json={
            "member": {"address": address, "protocol_port": 80, "subnet_id": subnet_id}}),
            subnet_id)
            for address in ("10.20.0.5", "10.99.0.5")
            for subnet_id in (a_sub["id"], str(uuid.uuid4()))}
        assert len(answers) == 1 and "not found" in answers.pop()[1]
