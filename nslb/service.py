"""Assembly of the all-in-one service: database, driver, worker, health loop and API."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field

from starlette.applications import Starlette

from nslb import interpreter
from nslb.accesslog.collector import AlreadyCollecting, Collector, Sink
from nslb.accesslog.files import LogFiles
from nslb.accesslog.syslog import SyslogSink
from nslb.amphora.base import AmphoraDriver
from nslb.amphora.haproxy_process import HAPROXY_USER
from nslb.api.app import create_app
from nslb.api.context import keystone_context
from nslb.config import ConfigError, Settings
from nslb.db import cluster_state, leases
from nslb.db.changes import ChangeFeed
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from nslb.events.publisher import Publisher
from nslb.floating.reconciler import FloatingReconciler
from nslb.floating.routers import NamespaceRouters, NoopRouters, RouterDriver
from nslb.health.autofailover import AutoFailover
from nslb.health.heartbeats import HeartbeatWatch
from nslb.health.hoststate import HostWatch
from nslb.health.monitor import HealthMonitor
from nslb.heartbeat import assembly as heartbeat_assembly
from nslb.heartbeat.receiver import Receiver
from nslb.identity import bootstrap
from nslb.identity.keys import KeyRing
from nslb.identity.service import Identity
from nslb.identity.shared_throttle import SharedThrottle
from nslb.metrics import server as metrics_server
from nslb.metrics.dataplane import DataPlane
from nslb.metrics.objects import ObjectCounts
from nslb.metrics.registry import Metrics
from nslb.pki.endpoint import JoinListener
from nslb.secrets.store import SecretStore
from nslb.worker.loop import Worker

log = logging.getLogger(__name__)


def make_driver(settings: Settings, metrics: Metrics | None = None) -> AmphoraDriver:
    if settings.amphora_driver == "namespace":
        from nslb.amphora.namespace import NamespaceDriver

        if os.geteuid() != 0:
            raise ConfigError("the namespace driver needs root (network namespaces, "
                              "bridges); run as root or use --amphora-driver noop")
        try:
            return NamespaceDriver(settings.state_dir, settings.physnets,
                                   access_logs=settings.access_log != "off", metrics=metrics,
                                   underlay_address=settings.underlay_address)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    from nslb.amphora.noop import NoopDriver

    return NoopDriver()


def remote_agents(settings: Settings, db: Database) -> tuple[AmphoraDriver, JoinListener]:
    """`--agents remote`: the CA (made on first start), the driver that calls agents and
    the listener where they join."""
    from nslb.amphora.remote import RemoteDriver
    from nslb.metrics.server import parse_listen
    from nslb.pki.controller import ControllerPki
    from nslb.placement.scheduler import Scheduler
    from nslb.placement.weighers import parse_multipliers

    listen = parse_listen(settings.agent_listen)
    assert listen is not None  # validated
    host, port = listen
    names = () if host in ("0.0.0.0", "::", "") else (host,)
    pki = ControllerPki(settings.state_dir, db, names)
    log.info("agents join at https://%s:%d (CA fingerprint sha256 %s)", host, port,
             pki.ca.fingerprint)
    scheduler = Scheduler(multipliers=parse_multipliers(settings.placement_weighers))
    return (RemoteDriver(db, pki, scheduler=scheduler),
            JoinListener(pki, db, host, port, heartbeat_for_agents(settings)))


def heartbeat_for_agents(settings: Settings) -> dict[str, object] | None:
    """What a joining agent learns about heartbeats: the key and where to send them."""
    if not settings.heartbeat_listen:
        return None
    from nslb.heartbeat.assembly import key_file
    from nslb.heartbeat.keys import ensure_key
    from nslb.heartbeat.receiver import parse_listen as parse_heartbeat

    try:
        key = ensure_key(key_file(settings))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"heartbeat key: {exc}") from exc
    host, port = parse_heartbeat(settings.heartbeat_listen)
    return {"key": key.decode(), "host": "" if host in ("0.0.0.0", "::", "") else host,
            "port": port}


def make_routers(settings: Settings) -> RouterDriver:
    """Floating IP routers live where the amphorae do: in namespaces on this host, or
    nowhere with the noop driver (and, for now, with remote agents)."""
    if settings.amphora_driver == "namespace" and settings.agents == "local":
        return NamespaceRouters(settings.state_dir, settings.physnets)
    return NoopRouters()


def make_collector(settings: Settings) -> Collector | None:
    """The host's access log reader, where haproxy runs on this host and logs are wanted."""
    if settings.amphora_driver != "namespace" or settings.access_log == "off" \
            or settings.agents != "local":
        return None
    sink: Sink = SyslogSink() if settings.access_log == "syslog" else LogFiles(
        settings.state_dir / "logs", settings.access_log_max_bytes,
        settings.access_log_backups)
    return Collector(settings.state_dir, sink, group=HAPROXY_USER)


@dataclass
class Service:
    settings: Settings
    db: Database
    driver: AmphoraDriver
    worker: Worker
    health: HealthMonitor
    app: Starlette
    floating: FloatingReconciler
    metrics: Metrics
    events: Publisher
    access_log: Collector | None = None
    metrics_server: metrics_server.MetricsServer | None = None
    join_listener: JoinListener | None = None
    # Several controllers on one database (PostgreSQL): units of work claimed through
    # leases, other controllers' writes heard as they commit (solo and silent on SQLite).
    leases: leases.Leases = field(default_factory=leases.SoloLeases)
    changes: ChangeFeed | None = None
    heartbeats: Receiver | None = None
    hosts: HostWatch | None = None

    def start(self) -> None:
        interpreter.tune_for_serving()  # before the threads: what the build left is frozen
        self.leases.start()
        if self.changes is not None:
            self.changes.start()
        # Before the worker: the socket must exist when the first haproxy starts.
        if self.access_log is not None:
            try:
                self.access_log.start()
            except AlreadyCollecting as exc:
                log.error("access logs are not collected by this process: %s", exc)
                self.access_log = None
        self.events.start()
        if self.join_listener is not None:
            self.join_listener.start()
        if self.heartbeats is not None:
            self.heartbeats.start()
        self.worker.start()
        self.health.start()
        if self.hosts is not None:
            self.hosts.start()
        self.floating.start()
        self.worker.kick()
        self.metrics_server = metrics_server.start(self.settings.metrics_listen,
                                                   self.metrics.registry)

    def stop(self) -> None:
        """Stop the control plane. Running load balancers keep serving traffic."""
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.floating.stop()
        if self.hosts is not None:
            self.hosts.stop()
        self.health.stop()
        if self.heartbeats is not None:
            self.heartbeats.stop()
        self.worker.stop()
        if self.access_log is not None:
            self.access_log.stop()
        self.events.stop()
        if self.join_listener is not None:
            self.join_listener.stop()
        if self.changes is not None:
            self.changes.stop()
        self.leases.stop()  # after the loops: what they held goes to the others at once
        self.driver.close()
        self.db.dispose()


def public_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def auto_failover(settings: Settings) -> AutoFailover | None:
    if settings.failover_timeout <= 0:
        return None
    return AutoFailover(timeout=settings.failover_timeout,
                        threshold=settings.failover_threshold or None,
                        max_concurrent=settings.failover_max_concurrent)


def controller_id(settings: Settings) -> str:
    """This controller's id among several sharing a database."""
    return settings.controller_id or f"{socket.gethostname()}:{os.getpid()}"


def publisher(settings: Settings, db: Database,
              claims: leases.Leases | None = None) -> Publisher:
    """The events' publisher: to Kafka with --notify, else it only marks them delivered
    (they stay in the outbox a while for recent())."""
    sink = None
    if settings.notify:
        from nslb.events.kafka import KafkaSink
        from nslb.events.target import parse

        sink = KafkaSink(parse(settings.notify))
        log.info("events go to kafka %s, topic %s", sink.target.bootstrap, sink.target.topic)
    return Publisher(db, sink, backlog=settings.events_backlog,
                     retention=settings.events_retention, leases=claims)


def start_identity(settings: Settings, db: Database) -> Identity:
    """Keys, the admin account on first start, and the clouds.yaml that holds its password."""
    shared = not db.is_sqlite  # several controllers may share it: count and forget there
    identity = Identity(db, KeyRing(settings.state_dir / "fernet-keys"),
                        throttle=SharedThrottle(db) if shared else None,
                        epoch=cluster_state.epoch(db, "identity"))
    password = bootstrap.ensure_admin(db)
    clouds = settings.state_dir / "clouds.yaml"
    if password is not None:
        bootstrap.write_clouds_yaml(clouds, f"{public_url(settings)}/identity/v3", password)
        log.warning("created the admin user; its credentials are in %s (mode 0600)", clouds)
    if clouds.exists():
        log.info("use it with: export OS_CLIENT_CONFIG_FILE=%s; "
                 "openstack --os-cloud nslb loadbalancer list", clouds)
    return identity


def build(settings: Settings, driver: AmphoraDriver | None = None) -> Service:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    db.origin = controller_id(settings)
    upgrade(db)
    claims = leases.for_database(db, db.origin, settings.lease_ttl)
    if claims.shared:
        log.info("controller %s: units of work are claimed in the shared database "
                 "(lease ttl %.0f s)", db.origin, settings.lease_ttl)
    metrics = Metrics()
    joins = None
    if settings.agents == "remote" and driver is None:
        driver, joins = remote_agents(settings, db)
    driver = driver or make_driver(settings, metrics)
    worker = Worker(db, driver, resync_interval=settings.resync_interval, metrics=metrics,
                    secrets=SecretStore.open(db, settings.state_dir), leases=claims)
    dataplane = DataPlane()
    receiver, watch = heartbeat_assembly.build(settings, db, driver, metrics)
    health = HealthMonitor(db, driver, interval=settings.health_interval,
                           failover=auto_failover(settings),
                           on_down=worker.resync, metrics=metrics, dataplane=dataplane,
                           leases=claims, heartbeats=watch)
    host_watch = watch_hosts(settings, db, driver, worker, watch)
    metrics.register(dataplane)
    metrics.register(ObjectCounts(db))
    floating = FloatingReconciler(db, make_routers(settings),
                                  resync_interval=settings.resync_interval, leases=claims)

    def kick(lb_id: str | None = None) -> None:
        """A change was committed: to one LB's tree (the floating IP reconciler sees a
        deleted VIP port within a second by itself), or to the registry."""
        worker.kick(lb_id)
        if lb_id is None:
            floating.kick()

    if settings.auth == "keystone":
        identity = start_identity(settings, db)
        app = create_app(settings, db, kick=kick, identity=identity,
                         context_for=keystone_context(identity), resync=worker.resync,
                         live=health.live, metrics=metrics)
    else:
        log.warning("AUTH IS OFF (--auth noauth): anyone who can reach %s is an admin",
                    settings.bind)
        app = create_app(settings, db, kick=kick, resync=worker.resync, live=health.live,
                         metrics=metrics)
    events = publisher(settings, db, claims)
    changes = ChangeFeed(db, [worker.kick, floating.kick, events.wake],
                         on_resync=worker.resync_here) if claims.shared else None
    return Service(settings, db, driver, worker, health, app, floating, metrics, events,
                   make_collector(settings), join_listener=joins, leases=claims,
                   changes=changes, heartbeats=receiver, hosts=host_watch)


def watch_hosts(settings: Settings, db: Database, driver: AmphoraDriver, worker: Worker,
                heartbeats: HeartbeatWatch | None) -> HostWatch | None:
    """`--agents remote`: hosts' states, deferred deletes and drains (health/hoststate.py).
    Says at start how remote amphorae are watched."""
    from nslb.amphora.remote import RemoteDriver

    if not isinstance(driver, RemoteDriver):
        return None
    driver.heartbeat_states = heartbeats is not None
    if heartbeats is not None:
        log.info("remote amphorae and hosts are watched through heartbeats (timeout "
                 "%.0f s); agents send them to --heartbeat-listen with the key they got "
                 "at join", settings.heartbeat_timeout)
    else:
        log.info("remote amphorae are observed through their agents' API every health "
                 "round, and a host is DOWN when a call fails (no --heartbeat-listen)")
    watch = HostWatch(db, driver, heartbeats.store if heartbeats is not None else None,
                      timeout=settings.heartbeat_timeout,
                      max_concurrent=settings.failover_max_concurrent,
                      on_failover=worker.resync)
    if heartbeats is not None:
        driver.host_silent = watch.silent
    return watch
