"""`nslb`: run the service and work with it from the shell."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from nslb import __version__
from nslb.cli.agent import agent_app, host_app
from nslb.config import DEFAULT_STATE_DIR, ConfigError, Settings, load
from nslb.heartbeat.cli import app as heartbeat_app

app = typer.Typer(
    help="nslb: OpenStack Octavia-compatible load balancers as HAProxy in Linux network "
         "namespaces.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(agent_app, name="agent")
app.add_typer(host_app, name="host")
app.add_typer(heartbeat_app, name="heartbeat")


@app.command()
def serve(
    bind: Annotated[str | None, typer.Option(
        help="HOST:PORT for the API (default: 127.0.0.1:9876; env NSLB_BIND)")] = None,
    state_dir: Annotated[Path | None, typer.Option(
        help="Where nslb keeps its database and per-LB files "
             "(default: /var/lib/nslb; env NSLB_STATE_DIR)")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="SQLAlchemy database URL (default: sqlite:///<state-dir>/nslb.db; "
                     "env NSLB_DB)")] = None,
    amphora_driver: Annotated[str | None, typer.Option(
        help="namespace (HAProxy in a netns per LB, needs root) or noop (in memory, "
             "for tests) (default: namespace; env NSLB_AMPHORA_DRIVER)")] = None,
    topology: Annotated[str | None, typer.Option(
        help="SINGLE (one amphora per load balancer) or ACTIVE_STANDBY (two, the VIP held "
             "by keepalived VRRP) for load balancers created without a flavor that says "
             "otherwise (default: SINGLE; env NSLB_TOPOLOGY)")] = None,
    failover_timeout: Annotated[float | None, typer.Option(
        help="Seconds an amphora may stay unhealthy (haproxy or keepalived down and not "
             "repaired in place) before it is replaced automatically; 0 never replaces "
             "(default: 30; env NSLB_FAILOVER_TIMEOUT)")] = None,
    failover_threshold: Annotated[int | None, typer.Option(
        help="When more amphorae than this are stale at once, mark them FAILOVER_STOPPED "
             "instead of replacing them (Octavia's failover_threshold); 0 for no threshold "
             "(default: 0; env NSLB_FAILOVER_THRESHOLD)")] = None,
    physnet: Annotated[list[str] | None, typer.Option(
        help="Map a physical network to a Linux bridge, NAME:BRIDGE; repeatable; the bridge "
             "is created if missing (default: physnet1:nslb-br0; env NSLB_PHYSNET, comma "
             "separated)")] = None,
    auth: Annotated[str | None, typer.Option(
        help="keystone: the embedded identity service, tokens required, admin credentials "
             "in <state-dir>/clouds.yaml; noauth: project from X-Project-Id and every caller "
             "is an admin (for tests) (default: keystone; env NSLB_AUTH)")] = None,
    public_url: Annotated[str | None, typer.Option(
        help="Base URL clients use to reach nslb, for links [env NSLB_PUBLIC_URL]")] = None,
    log_level: Annotated[str | None, typer.Option(
        help="DEBUG, INFO, WARNING or ERROR [env NSLB_LOG_LEVEL]")] = None,
    access_log: Annotated[str | None, typer.Option(
        help="Access logs of listeners with connection_logging: file (<state-dir>/logs/"
             "<lb_id>.log, rotated by size), syslog (/dev/log, local0) or off "
             "(default: file; env NSLB_ACCESS_LOG)")] = None,
    access_log_max_bytes: Annotated[int | None, typer.Option(
        help="Rotate an LB's access log past this size (default: 52428800; env "
             "NSLB_ACCESS_LOG_MAX_BYTES)")] = None,
    access_log_backups: Annotated[int | None, typer.Option(
        help="Rotated access logs kept per LB (default: 5; env NSLB_ACCESS_LOG_BACKUPS)")
    ] = None,
    metrics_listen: Annotated[str | None, typer.Option(
        help="HOST:PORT of the Prometheus /metrics listener, apart from the API and "
             "without authentication (its series name every project); \"\" turns metrics "
             "off (default: 127.0.0.1:9102; env NSLB_METRICS_LISTEN)")] = None,
    notify: Annotated[str | None, typer.Option(
        help="Publish notifications (Octavia's octavia.<kind>.<action>.end in "
             "oslo.messaging's envelope, plus nslb.* status, failover and amphora events) "
             "to kafka://HOST:PORT[,HOST:PORT...]/TOPIC (env NSLB_NOTIFY)")] = None,
    agents: Annotated[str | None, typer.Option(
        help="local: amphorae on this host, in-process; remote: on other hosts through "
             "`nslb agent` over mutual TLS (default: local; env NSLB_AGENTS)")] = None,
    agent_listen: Annotated[str | None, typer.Option(
        help="With --agents remote: HOST:PORT of the HTTPS listener where agents join "
             "and renew (default: 0.0.0.0:9444; env NSLB_AGENT_LISTEN)")] = None,
    controller_id: Annotated[str | None, typer.Option(
        help="This controller's id among several sharing one PostgreSQL --db (default: "
             "HOSTNAME:PID; env NSLB_CONTROLLER_ID)")] = None,
    lease_ttl: Annotated[float | None, typer.Option(
        help="Seconds a controller that stopped (kill -9, cut off) keeps its units of work "
             "before another takes them over (default: 10; env NSLB_LEASE_TTL)")] = None,
    heartbeat_listen: Annotated[str | None, typer.Option(
        help="HOST:PORT where the health manager takes signed UDP heartbeats of amphorae "
             "on other hosts; \"\" for none (default: none; env NSLB_HEARTBEAT_LISTEN)")
    ] = None,
    heartbeat_timeout: Annotated[float | None, typer.Option(
        help="Seconds without a heartbeat after which an amphora is failed over (default: "
             "10; env NSLB_HEARTBEAT_TIMEOUT)")] = None,
    vxlan_vni_range: Annotated[str | None, typer.Option(
        help="VNIs for VXLAN networks created without provider:segmentation_id, MIN:MAX "
             "(default: 1000:1999; env NSLB_VXLAN_VNI_RANGE)")] = None,
    underlay_mtu: Annotated[int | None, typer.Option(
        help="MTU of the network between hosts; a VXLAN network's mtu is 50 less "
             "(default: 1500; env NSLB_UNDERLAY_MTU)")] = None,
    underlay_address: Annotated[str | None, typer.Option(
        help="This host's address on that network, where its VXLAN tunnels end (the "
             "in-process data plane; agents take their own) (env NSLB_UNDERLAY_ADDRESS)")
    ] = None,
    config: Annotated[Path | None, typer.Option(
        help="TOML file with any of these settings (keys as the flag names) "
             "[env NSLB_CONFIG]")] = None,
) -> None:
    """Run the API, the worker and the health loop in one process.

    Settings come from defaults, then the TOML file, then NSLB_* variables, then flags.
    SIGTERM or Ctrl-C stops the control plane; load balancers keep serving traffic.
    """
    # Every option but --config is the Settings field of the same name (first statement:
    # the parameters are all the locals there are yet).
    overrides = {name: value for name, value in locals().items() if name != "config"}
    import uvicorn

    from nslb import service
    from nslb.api.server import raise_fd_limit, server_config

    try:
        settings = load(config, overrides)
    except ConfigError as exc:
        typer.echo(f"nslb: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        svc = service.build(settings)
    except ConfigError as exc:
        typer.echo(f"nslb: {exc}", err=True)
        raise typer.Exit(2) from None
    # Before anything opens descriptors for clients: the connection cap is derived from it.
    fd_limit = raise_fd_limit()
    server = uvicorn.Server(server_config(svc.app, settings, fd_limit=fd_limit))
    svc.start()
    logging.getLogger("nslb").info("nslb %s serving on http://%s (driver %s, state %s)",
                                   __version__, settings.bind, settings.amphora_driver,
                                   settings.state_dir)
    try:
        server.run()
    finally:
        svc.stop()


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="Where nslb serve answers")] =
        "http://127.0.0.1:9876",
    physnet: Annotated[str, typer.Option(help="Physical network for the demo network")] =
        "physnet1",
    bridge: Annotated[str, typer.Option(
        help="The bridge that physnet maps to in nslb serve (--physnet NAME:BRIDGE)")] =
        "nslb-br0",
    state_dir: Annotated[Path, typer.Option(
        help="nslb serve's state dir: its clouds.yaml (with --auth keystone) is used to log "
             "in")] = DEFAULT_STATE_DIR,
    clean: Annotated[bool, typer.Option("--clean", help="Remove everything the demo made")] =
        False,
    tag: Annotated[str, typer.Option(
        envvar="NSLB_DEMO_TAG",
        help="Name of this demo: another tag is another demo with its own namespaces, "
             "state and load balancer, which --clean with the same tag removes alone")] =
        "nslbdemo",
    udp: Annotated[bool, typer.Option(
        "--udp", help="A UDP echo service: two UDP echo servers behind a UDP listener, "
                      "pool and UDP-CONNECT monitor (next to the HTTP demo; --clean "
                      "removes both)")] = False,
) -> None:
    """Show a working load balancer: two web servers in namespaces, an LB built through the
    API, and requests from a client namespace through the VIP. Needs root and a running
    `nslb serve` (make run)."""
    from nslb.demo import run as demo_run
    from nslb.demo import udp as demo_udp
    from nslb.demo.site import BadTag, Site

    try:
        site = Site(tag)
    except BadTag as exc:
        raise typer.BadParameter(str(exc), param_hint="--tag") from None
    try:
        if clean:
            demo_run.clean(site=site)
        else:
            (demo_udp.run if udp else demo_run.run)(url, physnet, bridge,
                                                    state_dir / "clouds.yaml", site=site)
    except demo_run.DemoError as exc:
        typer.echo(f"nslb demo: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("rotate-keys")
def rotate_keys(
    state_dir: Annotated[Path, typer.Option(help="nslb serve's state dir")] = DEFAULT_STATE_DIR,
    max_active: Annotated[int, typer.Option(help="Keys kept (primary, staged, secondaries)")] =
        3,
    secrets: Annotated[bool, typer.Option(
        "--secrets", help="Rotate the key-manager payload keys instead: a new primary "
                          "key, every stored payload re-encrypted with it, keys no payload "
                          "uses any more removed")] = False,
    db: Annotated[str | None, typer.Option(
        "--db", help="With --secrets: nslb serve's database URL "
                     "(default: sqlite:///<state-dir>/nslb.db)")] = None,
) -> None:
    """Rotate the Fernet keys that sign identity tokens (a running nslb picks them up).

    The staged key becomes the primary, a new staged key is made, and the oldest keys
    beyond --max-active are removed: tokens made before this rotation stay valid.
    With --secrets, rotate the keys that encrypt key-manager payloads; every payload
    stays readable.
    """
    if secrets:
        _rotate_secret_keys(state_dir, db)
        return
    from nslb.identity.keys import rotate

    primary = rotate(state_dir / "fernet-keys", max_active)
    typer.echo(f"rotated: key {primary} is now the primary in {state_dir / 'fernet-keys'}")


def _rotate_secret_keys(state_dir: Path, db_url: str | None) -> None:
    from nslb.config import Settings
    from nslb.db.engine import Database
    from nslb.db.migrate import upgrade
    from nslb.secrets.rotation import rotate

    database = Database(Settings(state_dir=state_dir, db=db_url or "").db_url)
    try:
        upgrade(database)
        done = rotate(database, state_dir)
    except FileExistsError:
        typer.echo("nslb: another rotation of the payload keys is under way", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    removed = ", ".join(map(str, done.removed)) or "none"
    typer.echo(f"rotated: payload key {done.primary} is now the primary in "
               f"{state_dir / 'secret-keys'}; {done.resealed} payloads re-encrypted; "
               f"keys removed: {removed}")


@app.command()
def trace(
    lb: Annotated[str, typer.Argument(
        help="The load balancer's name or id, or the id of one of its amphorae")],
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print everything found as JSON instead of a tree; "
                       "`.problems` lists what is wrong")] = False,
    state_dir: Annotated[Path | None, typer.Option(
        help="nslb serve's state dir (default /var/lib/nslb; env NSLB_STATE_DIR)")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="nslb serve's database URL (default sqlite:///<state-dir>/nslb.db; "
                     "env NSLB_DB)")] = None,
    physnet: Annotated[list[str] | None, typer.Option(
        help="NAME:BRIDGE as given to nslb serve, repeatable, to check that each port "
             "is on its bridge (default physnet1:nslb-br0; env NSLB_PHYSNET)")] = None,
    config: Annotated[Path | None, typer.Option(
        help="nslb serve's TOML file, for the three settings above (env NSLB_CONFIG)",
    )] = None,
) -> None:
    """Show the path of a load balancer's VIP on this host, and what is wrong on it.

    The walk: the load balancer -> its amphorae and their roles -> each
    namespace -> its interfaces and their veth peers -> the bridge, with the
    port's VLAN and the bridge's uplinks (NIC, 802.1q, VXLAN) -> addresses
    and routes inside -> which namespace holds the VIP (VRRP state, and the
    address actually present) -> haproxy master and worker pids, keepalived
    pid -> listeners, pools and members from haproxy's stats socket -> the
    last apply the amphora confirmed and its generation, against the
    database's. Then the problems: a veth without a bridge, a haproxy not
    running, the VIP held by two namespaces, a missing route, a member DOWN...

    It reads nslb serve's database directly (so it works while nslb serve is
    down), enters only this load balancer's namespaces, and changes nothing.
    Run it as root, with the --state-dir (or --config) nslb serve has.

    Examples: nslb trace web;  nslb trace --json 3f2a... | jq .problems

    Exit status: 0 no problem, 1 warnings only, 2 errors, 3 nothing traced
    (no such load balancer, no database, not root).
    """
    from nslb.ops import trace_read, trace_view
    from nslb.ops.findings import exit_status

    settings = _settings(config, {"state_dir": state_dir, "db": db, "physnet": physnet})
    try:
        found = trace_read.trace(settings, lb)
    except trace_read.TraceError as exc:
        typer.echo(f"nslb trace: {exc}", err=True)
        raise typer.Exit(3) from None
    typer.echo(trace_view.as_json(found) if json_output else trace_view.as_text(found))
    raise typer.Exit(exit_status(p.severity for p in found.problems))


@app.command()
def doctor(
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print the findings and the readings they came from as JSON")] = False,
    state_dir: Annotated[Path | None, typer.Option(
        help="nslb serve's state dir, whose modes are checked (default /var/lib/nslb; "
             "env NSLB_STATE_DIR)")] = None,
    physnet: Annotated[list[str] | None, typer.Option(
        help="NAME:BRIDGE as given to nslb serve, repeatable; a bridge with a host "
             "address makes ip_forward matter (default physnet1:nslb-br0; env "
             "NSLB_PHYSNET)")] = None,
    config: Annotated[Path | None, typer.Option(
        help="nslb serve's TOML file, for the settings above (env NSLB_CONFIG)")] = None,
) -> None:
    """Check this host before and while it runs load balancers.

    Checks: haproxy, keepalived and nft versions and features; the tools
    nslb runs (ip, setpriv, socat); kernel features (bridge VLAN filtering,
    VXLAN, 802.1q, IPVS), tried in a throwaway network namespace;
    ip_forward; rp_filter (strict mode breaks asymmetric paths);
    bridge-nf-call-iptables (the host firewall then filters bridged
    traffic); neighbour table limits against the amphorae running; file
    descriptor limits; free memory per load balancer; clock
    synchronisation; the state dir's permissions; the haproxy account.

    Each finding says why it matters and the command that fixes it. Doctor
    only reads. Run it as root. Sysctls are read in the namespace doctor
    runs in: `ip netns exec NS nslb doctor` checks namespace NS.

    Exit status: 0 nothing to fix, 1 warnings, 2 errors.
    """
    from nslb.ops import doctor_checks, doctor_readings, doctor_view
    from nslb.ops.findings import exit_status

    settings = _settings(config, {"state_dir": state_dir, "physnet": physnet})
    readings = doctor_readings.read_host(settings.state_dir, list(settings.physnets.values()))
    findings = doctor_checks.run(readings)
    typer.echo(doctor_view.as_json(findings, readings) if json_output
               else doctor_view.as_text(findings))
    raise typer.Exit(exit_status(f.severity for f in findings))


def _settings(config: Path | None, overrides: dict[str, object]) -> Settings:
    """nslb serve's settings as this host has them (defaults, TOML, NSLB_*, flags)."""
    try:
        return load(config, overrides)
    except ConfigError as exc:
        typer.echo(f"nslb: {exc}", err=True)
        raise typer.Exit(3) from None


@app.command()
def version() -> None:
    """Print the nslb version."""
    typer.echo(__version__)


if __name__ == "__main__":
    app()
