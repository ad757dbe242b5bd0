"""The PostgreSQL tier: migrations and a short API scenario on a throwaway cluster.

Needs the PostgreSQL server binaries (Debian: `apt-get install postgresql`, found under
/usr/lib/postgresql/*/bin, or set NSLB_PG_BIN) and the psycopg driver; skips otherwise.
The cluster lives in a temporary directory, listens on a unix socket there and on a free
loopback port, and is stopped and removed whatever happens. initdb refuses to run as
root, so as root the cluster is owned by the `postgres` user and run with runuser.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from starlette.testclient import TestClient

from nslb.amphora.noop import NoopDriver
from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database
from nslb.db.migrate import alembic_config, current_revision, upgrade
from nslb.db.tables import metadata
from nslb.worker.loop import Worker
from tests.launcher import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
psycopg = pytest.importorskip("psycopg", reason="the psycopg driver is not installed")

PROJECT = "3f1c8f1e4b5a4c6d9e0f112233445566"
API = "/v2/lbaas"
NET = "/networking/v2.0"


def _pg_bin() -> Path | None:
    configured = os.environ.get("NSLB_PG_BIN")
    candidates = [configured] if configured else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
        reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() \
                and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


class Cluster:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user for initdb")
            if shutil.which("runuser") is None:
                pytest.skip("running as root and runuser is missing")
            os.chown(root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, tool: str, *args: str, timeout: float = 60) -> None:
        cmd = [*self.as_user, str(self.bin / tool), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=self.root)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}\n{self.log_tail()}")

    def start(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "nslb", "-E", "UTF8",
                 "--no-sync", "--no-instructions")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -F "
                "-c fsync=off -c full_page_writes=off -c max_connections=50")
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                 "-t", "30", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30",
                         "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = int((self.data / "postmaster.pid").read_text().split()[0])
                os.kill(pid, 9)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://nslb@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"nslb_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="nslb",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""


def _reap_stale_clusters(bin_dir: Path) -> None:
    """Stop and remove clusters left by test runs that were killed before their
    finalizers ran (postgres runs detached, so it outlives a SIGKILLed pytest)."""
    for owner_file in Path(tempfile.gettempdir()).glob("nslb-pg-*/owner.pid"):
        root = owner_file.parent
        try:
            os.kill(int(owner_file.read_text()), 0)
            continue  # its test run is still going
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        pid_file = root / "data" / "postmaster.pid"
        if pid_file.exists():
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running throwaway cluster, stopped and removed whatever happens (skips the test
    when the server binaries are missing). Shared by every tier that needs PostgreSQL:
    this module, the controllers' contract test, the multi-host integration site."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql, "
                    "or set NSLB_PG_BIN)")
    _reap_stale_clusters(bin_dir)
    root = Path(tempfile.mkdtemp(prefix="nslb-pg-"))
    (root / "owner.pid").write_text(str(os.getpid()))
    pg: Cluster | None = None
    try:
        pg = Cluster(bin_dir, root)
        pg.start()
        yield pg
    finally:
        try:
            if pg is not None:
                pg.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as pg:
        yield pg


@pytest.fixture
def db(cluster: Cluster) -> Iterator[Database]:
    """Overrides the SQLite `db` of conftest.py: a fresh, migrated PostgreSQL database."""
    database = Database(cluster.url(cluster.create_database()))
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def empty_db(cluster: Cluster) -> Iterator[Database]:
    database = Database(cluster.url(cluster.create_database()))
    yield database
    database.dispose()


def _diff(db: Database) -> list[Any]:
    with db.engine.connect() as connection:
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def test_migrations_on_postgres(empty_db: Database) -> None:
    assert not empty_db.is_sqlite and empty_db.engine.dialect.name == "postgresql"
    assert current_revision(empty_db) is None
    upgrade(empty_db)
    head = current_revision(empty_db)
    assert head is not None
    assert set(inspect(empty_db.engine).get_table_names()) - {"alembic_version"} == \
        set(metadata.tables)
    assert _diff(empty_db) == []
    upgrade(empty_db)  # idempotent
    assert current_revision(empty_db) == head
    cfg = alembic_config(empty_db.url)
    with empty_db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")
    assert set(inspect(empty_db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db)
    assert current_revision(empty_db) == head and _diff(empty_db) == []


def test_a_read_sees_one_snapshot(empty_db: Database) -> None:
    """A worker renders an LB's generation from one read: commits made while it reads (the
    next API change) must not leak into it, or two controllers would serve different
    bundles under one generation number (PostgreSQL's default, READ COMMITTED, gives each
    statement a fresh snapshot)."""
    with empty_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (n integer)"))
        conn.execute(text("INSERT INTO probe VALUES (1)"))
    with empty_db.read() as session:
        before = session.execute(text("SELECT count(*) FROM probe")).scalar_one()
        with empty_db.write() as other:
            other.execute(text("INSERT INTO probe VALUES (2)"))
        during = session.execute(text("SELECT count(*) FROM probe")).scalar_one()
    with empty_db.read() as session:
        after = session.execute(text("SELECT count(*) FROM probe")).scalar_one()
    assert (before, during, after) == (1, 1, 2)


def test_a_write_that_changed_nothing_is_not_counted_or_announced(empty_db: Database) -> None:
    """PostgreSQL knows whether a transaction wrote (it has a transaction id then): one
    that changed nothing neither moves `writes` nor sends the NOTIFY other controllers
    would read everything again for."""
    with empty_db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE quiet (n integer)"))
    before = empty_db.writes
    with empty_db.write() as session:
        session.execute(text("UPDATE quiet SET n = 2 WHERE n = 1"))
        session.execute(text("SELECT count(*) FROM quiet")).scalar_one()
    assert empty_db.writes == before
    with empty_db.write() as session:
        session.execute(text("INSERT INTO quiet VALUES (1)"))
    assert empty_db.writes == before + 1


def _ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if status != 204 else None


def test_api_scenario_on_postgres(client: TestClient, worker: Worker, db: Database) -> None:
    assert db.engine.dialect.name == "postgresql"
    net = _ok(client.post(f"{NET}/networks", json={"network": {"name": "pg-net"}}), 201)
    sub = _ok(client.post(f"{NET}/subnets", json={"subnet": {
        "network_id": net["network"]["id"], "cidr": "10.9.0.0/24", "ip_version": 4}}), 201)
    subnet_id = sub["subnet"]["id"]

    tree = _ok(client.post(f"{API}/loadbalancers", json={"loadbalancer": {
        "name": "lb-tree", "vip_subnet_id": subnet_id, "tags": ["pg", "tree"],
        "listeners": [{"name": "l80", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {
                           "name": "p1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                           "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3,
                                             "max_retries": 3},
                           "members": [{"address": "10.9.0.50", "protocol_port": 8080},
                                       {"address": "10.9.0.51", "protocol_port": 8080,
                                        "weight": 5}]}}]}}), 201)["loadbalancer"]
    assert tree["provisioning_status"] == "PENDING_CREATE"
    pool_id = tree["pools"][0]["id"]
    others = [_ok(client.post(f"{API}/loadbalancers", json={"loadbalancer": {
        "name": f"lb-{i}", "vip_subnet_id": subnet_id, "tags": ["pg"]}}), 201)["loadbalancer"]
        for i in range(4)]
    # While PENDING_CREATE the LB is locked (row lock + status test on PostgreSQL too).
    busy = client.put(f"{API}/loadbalancers/{tree['id']}",
                      json={"loadbalancer": {"description": "x"}})
    assert busy.status_code == 409, busy.text

    worker.drain()
    lbs = _ok(client.get(f"{API}/loadbalancers", params={"sort": "name:asc"}))["loadbalancers"]
    assert [lb["name"] for lb in lbs] == ["lb-0", "lb-1", "lb-2", "lb-3", "lb-tree"]
    assert {lb["provisioning_status"] for lb in lbs} == {"ACTIVE"}
    vips = [lb["vip_address"] for lb in lbs]
    assert len(set(vips)) == len(vips)

    # Pagination with a sort: pages of two, following the marker in the next link.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sort": "name:desc"}
    for _ in range(10):
        page = _ok(client.get(f"{API}/loadbalancers", params=params))
        seen += [lb["name"] for lb in page["loadbalancers"]]
        nxt = [link for link in page["loadbalancers_links"] if link["rel"] == "next"]
        if not nxt:
            break
        params = {"limit": 2, "sort": "name:desc", "marker": page["loadbalancers"][-1]["id"]}
        assert f"marker={params['marker']}" in nxt[0]["href"]
    assert seen == ["lb-tree", "lb-3", "lb-2", "lb-1", "lb-0"]
    back = _ok(client.get(f"{API}/loadbalancers", params={
        "limit": 2, "sort": "name:desc", "marker": others[1]["id"], "page_reverse": "true"}))
    assert [lb["name"] for lb in back["loadbalancers"]] == ["lb-3", "lb-2"]
    assert [lb["name"] for lb in _ok(client.get(f"{API}/loadbalancers", params={
        "tags": "tree"}))["loadbalancers"]] == ["lb-tree"]
    assert len(_ok(client.get(f"{API}/loadbalancers", params={"tags": "pg"}))
               ["loadbalancers"]) == 5

    members = _ok(client.get(f"{API}/pools/{pool_id}/members",
                             params={"sort": "weight:desc"}))["members"]
    assert [(m["address"], m["weight"]) for m in members] == [("10.9.0.51", 5), ("10.9.0.50", 1)]
    assert {m["provisioning_status"] for m in members} == {"ACTIVE"}
    # Unique constraints hold on PostgreSQL as well: a duplicate member is a 409.
    dup = client.post(f"{API}/pools/{pool_id}/members",
                      json={"member": {"address": "10.9.0.50", "protocol_port": 8080}})
    assert dup.status_code == 409, dup.text
    status = _ok(client.get(f"{API}/loadbalancers/{tree['id']}/status"))
    [listener] = status["statuses"]["loadbalancer"]["listeners"]
    assert listener["pools"][0]["health_monitor"]["type"] == "HTTP"

    _ok(client.delete(f"{API}/loadbalancers/{tree['id']}", params={"cascade": "true"}), 204)
    _ok(client.delete(f"{API}/loadbalancers/{others[0]['id']}"), 204)
    assert _ok(client.get(f"{API}/loadbalancers/{tree['id']}"))["loadbalancer"][
        "provisioning_status"] == "PENDING_DELETE"
    worker.drain()
    assert client.get(f"{API}/loadbalancers/{tree['id']}").status_code == 404
    assert client.get(f"{API}/pools/{pool_id}").status_code == 404
    left = _ok(client.get(f"{API}/loadbalancers"))["loadbalancers"]
    assert sorted(lb["name"] for lb in left) == ["lb-1", "lb-2", "lb-3"]
    for kind in ("listeners", "pools", "healthmonitors"):
        assert _ok(client.get(f"{API}/{kind}"))[kind] == []
    ports = _ok(client.get(f"{NET}/ports"))["ports"]
    assert sorted(p["name"] for p in ports) == sorted(f"octavia-lb-{lb['id']}" for lb in left)


@pytest.fixture
def served(db: Database, settings: Settings) -> Iterator[str]:
    """The app on a real uvicorn (loopback, kernel-chosen port) with the worker running."""
    worker = Worker(db, NoopDriver(), resync_interval=3600)
    app = create_app(settings, db, kick=worker.kick)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    worker.start()
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        worker.stop()
        sock.close()


def test_concurrent_changes_on_one_lb_on_postgres(served: str) -> None:
    """Row locks instead of SQLite's process lock: parallel updates and member creates on
    one LB answer 2xx or 409 only, and the end state is exactly what was acknowledged."""
    headers = {"X-Project-Id": PROJECT}
    with httpx.Client(base_url=served, headers=headers, timeout=10) as http:
        net = _ok(http.post(f"{NET}/networks", json={"network": {"name": "n"}}), 201)
        sub = _ok(http.post(f"{NET}/subnets", json={"subnet": {
            "network_id": net["network"]["id"], "cidr": "10.8.0.0/16", "ip_version": 4}}), 201)
        lb = _ok(http.post(f"{API}/loadbalancers", json={"loadbalancer": {
            "name": "hot", "vip_subnet_id": sub["subnet"]["id"],
            "pools": [{"name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}]}}),
            201)["loadbalancer"]
    pool_id = lb["pools"][0]["id"]
    lock = threading.Lock()
    codes: list[int] = []
    descriptions = {""}
    members: set[str] = set()

    def work(n: int) -> None:
        with httpx.Client(base_url=served, headers=headers, timeout=10) as c:
            for i in range(20):
                if n % 2:
                    value = f"d{n}-{i}"
                    r = c.put(f"{API}/loadbalancers/{lb['id']}",
                              json={"loadbalancer": {"description": value}})
                else:
                    value = f"10.8.{n}.{i + 1}"
                    r = c.post(f"{API}/pools/{pool_id}/members",
                               json={"member": {"address": value, "protocol_port": 80}})
                with lock:
                    codes.append(r.status_code)
                    if r.status_code == 200:
                        descriptions.add(value)
                    elif r.status_code == 201:
                        members.add(value)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert set(codes) <= {200, 201, 409}, codes
    assert 200 in codes and 201 in codes

    with httpx.Client(base_url=served, headers=headers, timeout=10) as http:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            final = _ok(http.get(f"{API}/loadbalancers/{lb['id']}"))["loadbalancer"]
            got = _ok(http.get(f"{API}/pools/{pool_id}/members"))["members"]
            if final["provisioning_status"] == "ACTIVE" and all(
                    m["provisioning_status"] == "ACTIVE" for m in got):
                break
            time.sleep(0.05)
        assert final["provisioning_status"] == "ACTIVE"
        assert final["description"] in descriptions
        assert sorted(m["address"] for m in got) == sorted(members)
        assert all(m["provisioning_status"] == "ACTIVE" for m in got)
