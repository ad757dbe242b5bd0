"""Gather a Trace: the load balancer and its amphorae from the database, the plan the worker
would apply (rendered from the same rows), and what the host has for each amphora.

`nslb trace` reads the database directly rather than asking the API: it is the tool for
when something is wrong, which includes `nslb serve` being down or wedged; it needs the
generations and amphora rows the Octavia API does not show to a user; and it has to run
on the host anyway (as root) to look into namespaces and haproxy's sockets. It only reads:
no migration, no repair, no namespace or process is created.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
from pathlib import Path

from pyroute2 import IPRoute
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from nslb.amphora import layout, runtime_api
from nslb.amphora.haproxy_process import HaproxyProcess
from nslb.amphora.keepalived_process import KeepalivedProcess
from nslb.config import Settings
from nslb.db import amphorae, snapshots
from nslb.db.engine import Database
from nslb.db.tables import amphora as amphora_table
from nslb.db.tables import load_balancer as lb_table
from nslb.db.tree import Tree, load_tree
from nslb.model.bundle import HostFacts, NetworkPort
from nslb.model.resources import VRRP_PRIORITY, Amphora, LoadBalancer
from nslb.netns.names import host_ifname, namespace_name, ns_ifname, port_key, vlan_bridge_name
from nslb.netns.namespaces import host_route, namespace_exists
from nslb.netns.vxlan import bridge_name as vxlan_bridge
from nslb.ops.trace_checks import diagnose
from nslb.ops.trace_host import HostReads, read_namespace
from nslb.ops.trace_model import (
    AmphoraTrace,
    Applied,
    Backend,
    Haproxy,
    Keepalived,
    ListenerState,
    LoadBalancerView,
    PlannedPort,
    Route,
    Server,
    Trace,
)
from nslb.render.bundle import InconsistentSnapshot, build_bundle, manifest
from nslb.render.haproxy import amphora_dir
from nslb.render.values import UnsafeValue

CONFIRMED = "applied.json"  # written by the namespace driver after haproxy took a bundle
DELETED = ("PENDING_DELETE", "DELETED")


class TraceError(Exception):
    """Nothing to trace (no database, no such load balancer, not root); the message says
    what to do."""


def trace(settings: Settings, ref: str) -> Trace:
    """The path of the VIP of the load balancer named `ref` (name, id, or an amphora's id)."""
    if os.geteuid() != 0:
        raise TraceError("nslb trace needs root: it enters the amphorae's network namespaces "
                         "and talks to haproxy's sockets")
    database = open_database(settings)
    try:
        with database.read() as session:
            lb = find_lb(session, ref)
            tree = load_tree(session, lb)
            rows = amphorae.of_lb(session, lb.id, live_only=False)
            known = set(session.scalars(select(amphora_table.c.id)))
            plans, served, plan_error = _plans(session, lb, tree, settings)
    except SQLAlchemyError as exc:
        raise TraceError(f"cannot read the database {database.url}: {exc}") from exc
    finally:
        database.dispose()
    result = Trace(lb=_lb_view(lb, rows), plan_error=plan_error)
    strays = stray_amphora_dirs(settings.state_dir, lb.id, known)
    reads = HostReads()
    with host_route() as host:
        for row in rows:
            result.amphorae.append(_amphora(settings.state_dir, lb, tree, host, reads,
                                            row.id, row, plans.get(row.id, []), served))
        for stray in strays:
            result.amphorae.append(_amphora(settings.state_dir, lb, tree, host, reads,
                                            stray, None, [], served))
    result.problems = diagnose(result)
    return result


# --- the database ----------------------------------------------------------------------


def open_database(settings: Settings) -> Database:
    """nslb serve's database, never created by accident (a wrong --state-dir would
    otherwise leave an empty database behind and report no such LB)."""
    url = settings.db_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise TraceError(f"no database at {path}: give --state-dir (or --db, or --config) "
                             "as nslb serve has them")
    return Database(url)


def find_lb(session: Session, ref: str) -> LoadBalancer:
    """The load balancer with id or name `ref`, or the one the amphora `ref` serves."""
    lb = session.get(LoadBalancer, ref)
    if lb is not None:
        return lb
    named = list(session.scalars(select(LoadBalancer).where(lb_table.c.name == ref)))
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        choices = ", ".join(f"{lb.id} (project {lb.project_id})" for lb in named)
        raise TraceError(f"{len(named)} load balancers are called {ref!r}; trace one by "
                         f"id: {choices}")
    owner = session.scalar(select(amphora_table.c.loadbalancer_id)
                           .where(amphora_table.c.id == ref))
    lb = session.get(LoadBalancer, owner) if owner else None
    if lb is None:
        raise TraceError(f"no load balancer or amphora with id or name {ref!r}")
    return lb


def _lb_view(lb: LoadBalancer, rows: list[Amphora]) -> LoadBalancerView:
    pair = any(a.role in VRRP_PRIORITY for a in rows)
    return LoadBalancerView(
        id=lb.id, name=lb.name, project_id=lb.project_id, vip_address=lb.vip_address,
        vip_port_id=lb.vip_port_id, provisioning_status=lb.provisioning_status,
        operating_status=lb.operating_status, admin_state_up=lb.admin_state_up,
        generation=lb.generation, applied_generation=lb.applied_generation,
        topology="ACTIVE_STANDBY" if pair else "SINGLE")


def _plans(session: Session, lb: LoadBalancer, tree: Tree, settings: Settings,
           ) -> tuple[dict[str, list[PlannedPort]], set[str], str | None]:
    """amphora id -> its planned ports, rendered from the database as the worker would;
    the ids of the listeners, pools and members the rendered config serves; why some
    could not be rendered."""
    try:
        snapshot = snapshots.build(session, lb, tree)
    except snapshots.SnapshotError as exc:
        return {}, set(), str(exc)
    listed = manifest(snapshot)
    served = {*listed.listeners, *listed.pools, *listed.members}
    facts = HostFacts(host=socket.gethostname(), state_dir=str(settings.state_dir),
                      fd_limit=65536)  # the limit changes maxconn only, never the ports
    plans: dict[str, list[PlannedPort]] = {}
    errors = []
    for row in snapshot.amphorae:
        try:
            bundle = build_bundle(snapshot, row, facts)
        except (InconsistentSnapshot, UnsafeValue) as exc:
            errors.append(f"amphora {row.id[:8]}: {exc}")
            continue
        plans[row.id] = [planned_port(p, settings.physnets) for p in bundle.ports]
    return plans, served, "; ".join(errors) or None


def planned_port(port: NetworkPort, physnets: dict[str, str]) -> PlannedPort:
    bridge = physnets.get(port.physical_network)
    vlan = port.segmentation_id
    if port.network_type == "vxlan" and vlan is not None:  # its own bridge per VNI
        bridge, vlan = vxlan_bridge(vlan), None
    routes = []
    if port.gateway:
        default = "::/0" if ipaddress.ip_address(port.gateway).version == 6 else "0.0.0.0/0"
        routes.append(Route(default, port.gateway, ns_ifname(port.port_id)))
    routes += [Route(str(ipaddress.ip_network(dst, strict=False)), hop, ns_ifname(port.port_id))
               for dst, hop in port.host_routes]
    return PlannedPort(
        port_id=port.port_id, interface=ns_ifname(port.port_id),
        host_interface=host_ifname(port.port_id), network_type=port.network_type,
        physical_network=port.physical_network, bridge=bridge,
        segment_bridge=vlan_bridge_name(bridge, vlan) if bridge and vlan is not None else None,
        vlan=vlan, mtu=port.mtu, mac=port.mac, addresses=list(port.addresses),
        floating=list(port.floating), routes=routes)


def stray_amphora_dirs(state_dir: Path, lb_id: str, known: set[str]) -> list[str]:
    """Amphora directories on this host that no database row owns (`known`: every amphora
    id in the database) and whose haproxy.cfg says it serves `lb_id`.

    Only the unknown directories are opened: on a host with a thousand LBs a trace lists
    the directory once and reads no other LB's files."""
    found = []
    root = amphora_dir(state_dir, "x").parent
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(root.iterdir()):
            if entry.name in known or not layout.UUID.fullmatch(entry.name):
                continue
            with contextlib.suppress(OSError):
                with open(entry / "haproxy.cfg", errors="replace") as config:
                    first = config.readline().split()
                if first[:4] == ["#", "Configuration", "for", "loadbalancer"] and \
                        first[4:5] == [lb_id]:
                    found.append(entry.name)
    return found


# --- one amphora on the host ---------------------------------------------------------------


def _amphora(state_dir: Path, lb: LoadBalancer, tree: Tree, host: IPRoute,
             reads: HostReads, amphora_id: str, row: Amphora | None,
             planned: list[PlannedPort], served: set[str]) -> AmphoraTrace:
    """What the host has for one amphora; `served`: ids the rendered config serves;
    `reads`: what the trace read from the host side so far."""
    directory = amphora_dir(state_dir, amphora_id)
    namespace = namespace_name(amphora_id)
    out = AmphoraTrace(
        id=amphora_id, role=row.role if row else None, status=row.status if row else "",
        vrrp_ip=row.vrrp_ip if row else None, namespace=namespace,
        namespace_exists=namespace_exists(namespace), directory=str(directory),
        directory_exists=directory.is_dir(), planned=planned, in_database=row is not None)
    if out.namespace_exists:
        with contextlib.suppress(FileNotFoundError):  # deleted while we looked
            out.interfaces, out.routes = read_namespace(namespace, host, reads)
    keys = {port_key(p.port_id): p.port_id for p in planned}
    for interface in out.interfaces:
        if interface.name.startswith("nsv"):
            interface.port_id = keys.get(interface.name[3:], interface.name[3:])
    out.holds_vip = any(_same_address(a, lb.vip_address)
                        for i in out.interfaces for a in i.addresses)
    if not out.directory_exists:
        return out
    proc = HaproxyProcess(directory, namespace,
                          aliases=(layout.legacy_config(state_dir, amphora_id),))
    out.haproxy = _haproxy(proc)
    out.keepalived = _keepalived(proc, KeepalivedProcess(directory, namespace), row)
    rows = _stat_rows(proc, out.haproxy)
    out.listeners, out.backends = _listeners(tree, rows, served), _backends(tree, rows, served)
    out.applied = _applied(directory, row)
    return out


def _same_address(cidr: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(cidr.split("/")[0]) == ipaddress.ip_address(address)
    except ValueError:
        return False


def _haproxy(proc: HaproxyProcess) -> Haproxy:
    master = proc.master_pid()
    if master is None:
        return Haproxy(master_pid=None, in_namespace=False, workers=[])
    workers = proc.current_workers() or [p for p in proc.all_pids() if p != master]
    return Haproxy(master_pid=master, in_namespace=proc.in_namespace(master), workers=workers)


def _keepalived(proc: HaproxyProcess, keepalived: KeepalivedProcess,
                row: Amphora | None) -> Keepalived:
    pid = keepalived.pid()
    vrrp_pid = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        vrrp_pid = int(keepalived.vrrp_pidfile.read_text().split()[0])
        if not Path(f"/proc/{vrrp_pid}").exists():
            vrrp_pid = None
    expected = (row.role in VRRP_PRIORITY) if row else keepalived.config.exists()
    return Keepalived(expected=expected, pid=pid, vrrp_pid=vrrp_pid if pid else None,
                      in_namespace=pid is not None and proc.in_namespace(pid),
                      state=keepalived.state())


def _stat_rows(proc: HaproxyProcess, haproxy: Haproxy) -> list[dict[str, str]]:
    if haproxy.master_pid is None:
        return []
    try:
        return runtime_api.parse_stat(proc.worker_command("show stat"))
    except OSError as exc:
        haproxy.stats_error = str(exc) or type(exc).__name__
        return []


def _listeners(tree: Tree, rows: list[dict[str, str]], served: set[str]) -> list[ListenerState]:
    frontends = {r["pxname"]: r for r in rows if r.get("svname") == "FRONTEND"}
    out = []
    for listener in tree.listeners:
        if listener.provisioning_status in DELETED:
            continue
        row = frontends.get(listener.id)
        out.append(ListenerState(
            listener_id=listener.id, name=listener.name, protocol=listener.protocol,
            port=listener.protocol_port, enabled=listener.admin_state_up,
            status=runtime_api.normalise_status(row.get("status", "")) if row else None,
            current_sessions=_int(row, "scur"), total_sessions=_int(row, "stot"),
            in_config=listener.id in served))
    return out


def _backends(tree: Tree, rows: list[dict[str, str]], served: set[str]) -> list[Backend]:
    backends = {r["pxname"]: r for r in rows if r.get("svname") == "BACKEND"}
    servers = {(r["pxname"], r["svname"]): r for r in rows if r.get("type") == "2"}
    out = []
    for pool in tree.pools:
        if pool.provisioning_status in DELETED:
            continue
        row = backends.get(pool.id)
        backend = Backend(pool_id=pool.id, name=pool.name,
                          status=runtime_api.normalise_status(row.get("status", ""))
                          if row else None, in_config=pool.id in served)
        for member in tree.members:
            if member.pool_id != pool.id or member.provisioning_status in DELETED:
                continue
            server = servers.get((pool.id, member.id))
            endpoint = f"{_host(member.address)}:{member.protocol_port}"
            backend.servers.append(Server(
                member_id=member.id, address=endpoint,
                status=server.get("status", "") if server else "MISSING",
                check=server.get("check_status", "").removeprefix("* ") if server else "",
                weight=_int(server, "weight") if server else None,
                in_config=member.id in served))
        out.append(backend)
    return out


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _int(row: dict[str, str] | None, key: str) -> int:
    value = (row or {}).get(key) or "0"
    return int(value) if value.isdigit() else 0


def _applied(directory: Path, row: Amphora | None) -> Applied:
    data: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((directory / CONFIRMED).read_text())
        if isinstance(loaded, dict):
            data = loaded
    generation = data.get("generation")
    return Applied(hash=str(data["hash"]) if "hash" in data else None,
                   generation=generation if isinstance(generation, int) else None,
                   db_hash=row.applied_hash if row else None,
                   db_generation=row.applied_generation if row else 0)
