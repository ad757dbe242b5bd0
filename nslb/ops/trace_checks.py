"""What is wrong along a VIP's path: pure functions over a Trace (no I/O).

Each check names the part of the path and says what it means for traffic. Errors lose
traffic now or at the next failover; warnings are worth a look.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from nslb.ops.findings import ERROR, WARNING
from nslb.ops.trace_model import (
    AmphoraTrace,
    Interface,
    PlannedPort,
    Problem,
    Trace,
)

# Amphora statuses whose data plane must exist (the health loop's SERVING), and those
# being built (may not exist yet).
SERVING = ("ALLOCATED", "ERROR", "FAILOVER_STOPPED", "PENDING_DELETE")
BUILDING = ("PENDING_CREATE", "BOOTING")
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


def diagnose(trace: Trace) -> list[Problem]:
    """Every problem found, load balancer first, then per amphora."""
    problems = list(_load_balancer(trace))
    problems += _vip(trace)
    problems += _uplinks(trace)
    for amphora in trace.amphorae:
        problems += _amphora(trace, amphora)
    return problems


def short(ident: str) -> str:
    return ident[:8]


def _where(amphora: AmphoraTrace, part: str = "") -> str:
    return f"amphora {short(amphora.id)}" + (f" / {part}" if part else "")


# --- the load balancer ------------------------------------------------------------------


def _load_balancer(trace: Trace) -> Iterator[Problem]:
    lb = trace.lb
    where = f"load balancer {short(lb.id)}"
    if lb.applied_generation < lb.generation:
        gap = (f"generation {lb.generation} is not applied (the data plane has "
               f"{lb.applied_generation})")
        if lb.provisioning_status in PENDING:
            yield Problem(WARNING, where, f"{gap}: an apply is in progress "
                          f"({lb.provisioning_status}); trace again in a few seconds")
        elif lb.provisioning_status == "ERROR":
            yield Problem(ERROR, where, f"{gap}: the last change failed (ERROR); see nslb "
                          "serve's log for the reason")
        else:
            yield Problem(ERROR, where, f"{gap} although the LB is {lb.provisioning_status}: "
                          "is nslb serve running?")
    if trace.plan_error:
        yield Problem(WARNING, where, f"the planned ports could not be rendered from the "
                      f"database ({trace.plan_error}); only what exists is shown")
    if lb.provisioning_status != "DELETED" and not any(a.in_database and a.status in SERVING
                                                       + BUILDING for a in trace.amphorae):
        yield Problem(ERROR, where, "no live amphora in the database: nothing serves this LB")


def _vip(trace: Trace) -> Iterator[Problem]:
    lb = trace.lb
    where = f"VIP {lb.vip_address}"
    holders = [a for a in trace.amphorae if a.holds_vip]
    serving = [a for a in trace.amphorae if a.status in SERVING and a.in_database]
    if len(holders) > 1:
        names = ", ".join(a.namespace for a in holders)
        yield Problem(ERROR, where, f"held by {len(holders)} namespaces at once ({names}): "
                      "clients' ARP caches flap between them and connections break")
    elif not holders and serving and lb.admin_state_up:
        yield Problem(ERROR, where, "no namespace holds the VIP: nothing answers on it")
    if trace.lb.topology != "ACTIVE_STANDBY":
        return
    masters = [a for a in trace.amphorae if a.keepalived and a.keepalived.state == "MASTER"]
    if len(masters) > 1:
        yield Problem(ERROR, where, "both amphorae are VRRP MASTER (split brain): they do "
                      "not hear each other's adverts; check the VRRP ports and the bridge")
    for amphora in trace.amphorae:
        state = amphora.keepalived.state if amphora.keepalived else ""
        if state == "MASTER" and not amphora.holds_vip:
            yield Problem(ERROR, _where(amphora), "VRRP state is MASTER but the VIP is not "
                          "on any interface of its namespace")
        if amphora.holds_vip and state != "MASTER":
            yield Problem(ERROR, _where(amphora), f"holds the VIP but its VRRP state is "
                          f"{state or 'unknown'}: the address was added by hand or left by a "
                          "keepalived that was killed")


def _uplinks(trace: Trace) -> Iterator[Problem]:
    """Uplinks set up but without a carrier, once per bridge however many ports use it."""
    bridges = {i.peer.bridge.name: i.peer.bridge for a in trace.amphorae for i in a.interfaces
               if i.peer is not None and i.peer.bridge is not None}
    for name, bridge in sorted(bridges.items()):
        for uplink in bridge.uplinks:
            if uplink.state == "no carrier":
                yield Problem(WARNING, f"bridge {name} / uplink {uplink.name}", "set up but "
                              "without carrier: nothing on this bridge reaches other hosts "
                              "through it")


# --- one amphora -------------------------------------------------------------------------


def _amphora(trace: Trace, amphora: AmphoraTrace) -> Iterator[Problem]:
    if not amphora.in_database:
        yield Problem(WARNING, _where(amphora), f"{amphora.namespace} is on the host (files in "
                      f"{amphora.directory}) but no live amphora row owns it: a leftover of a "
                      "delete or failover that did not finish; nslb serve removes it when "
                      "it starts")
        return
    if amphora.status == "DELETED":
        if amphora.namespace_exists:
            yield Problem(WARNING, _where(amphora), f"deleted in the database but "
                          f"{amphora.namespace} is still on the host")
        return
    expected = amphora.status in SERVING
    if not amphora.namespace_exists:
        if expected:
            yield Problem(ERROR, _where(amphora), f"{amphora.namespace} is in the database "
                          f"({amphora.status}) but not on the host")
        else:
            yield Problem(WARNING, _where(amphora), f"{amphora.namespace} is not built yet "
                          f"({amphora.status})")
        return
    if not amphora.directory_exists:
        yield Problem(ERROR, _where(amphora), f"its directory {amphora.directory} is missing")
    yield from _processes(amphora)
    yield from _ports(amphora)
    yield from _listeners(trace, amphora)
    yield from _applied(trace, amphora)


def _processes(amphora: AmphoraTrace) -> Iterator[Problem]:
    haproxy = amphora.haproxy
    if haproxy is None or haproxy.master_pid is None:
        yield Problem(ERROR, _where(amphora, "haproxy"), "haproxy is not running")
    elif not haproxy.in_namespace:
        yield Problem(ERROR, _where(amphora, "haproxy"), f"haproxy (pid {haproxy.master_pid}) "
                      f"runs outside {amphora.namespace}: its namespace was deleted and made "
                      "again under it")
    elif not haproxy.workers:
        yield Problem(ERROR, _where(amphora, "haproxy"), f"haproxy master {haproxy.master_pid} "
                      "has no worker: nothing serves")
    elif haproxy.stats_error:
        yield Problem(WARNING, _where(amphora, "haproxy"), f"the stats socket does not answer "
                      f"({haproxy.stats_error})")
    keepalived = amphora.keepalived
    if keepalived is None:
        return
    if keepalived.expected and keepalived.pid is None:
        yield Problem(ERROR, _where(amphora, "keepalived"), "keepalived is not running: this "
                      "amphora can neither take the VIP nor give it up")
    elif keepalived.expected and not keepalived.in_namespace:
        yield Problem(ERROR, _where(amphora, "keepalived"), f"keepalived (pid "
                      f"{keepalived.pid}) runs outside {amphora.namespace}")
    elif keepalived.expected and keepalived.state == "FAULT":
        yield Problem(ERROR, _where(amphora, "keepalived"), "VRRP state FAULT: its check "
                      "script failed (haproxy does not answer) or its interface is down")
    elif not keepalived.expected and keepalived.pid is not None:
        yield Problem(WARNING, _where(amphora, "keepalived"), f"keepalived (pid "
                      f"{keepalived.pid}) runs although the amphora is "
                      f"{amphora.role or 'STANDALONE'}")


def _ports(amphora: AmphoraTrace) -> Iterator[Problem]:
    by_port = {i.port_id: i for i in amphora.interfaces if i.port_id}
    for plan in amphora.planned:
        interface = by_port.get(plan.port_id)
        if interface is None:
            yield Problem(ERROR, _where(amphora, plan.interface), f"port {plan.port_id} is "
                          f"planned but {plan.interface} is not in {amphora.namespace}")
            continue
        yield from _port(amphora, interface, plan)
        yield from _routes(amphora, plan)
    planned = {p.port_id for p in amphora.planned}
    for interface in amphora.interfaces:
        if interface.kind == "veth" and interface.port_id not in planned and amphora.planned:
            yield Problem(WARNING, _where(amphora, interface.name), "this interface is not "
                          "in the plan: a port the LB no longer has, or one added by hand")
        if interface.kind == "veth" and interface.port_id not in planned:
            yield from _veth(amphora, interface)


def _veth(amphora: AmphoraTrace, interface: Interface) -> Iterator[Problem]:
    """What holds for any veth of the namespace, planned or not."""
    where = _where(amphora, interface.name)
    if interface.peer is None:
        detail = ("its peer is in another namespace" if interface.peer_outside_host
                  else "its peer is gone")
        yield Problem(ERROR, where, f"veth without a host end ({detail}): the port is cut off")
        return
    if interface.peer.bridge is None:
        yield Problem(ERROR, where, f"veth without a bridge: {interface.peer.name} is not a "
                      "port of any bridge, so nothing reaches this interface")


def _port(amphora: AmphoraTrace, interface: Interface, plan: PlannedPort) -> Iterator[Problem]:
    where = _where(amphora, interface.name)
    yield from _veth(amphora, interface)
    peer = interface.peer
    if peer is not None and peer.bridge is not None:
        yield from _bridge(where, peer.name, peer.bridge.name, peer.bridge.vlan_filtering,
                           peer.vlans, plan)
        if peer.stp_state not in (None, "forwarding"):
            yield Problem(ERROR, where, f"bridge port {peer.name} is {peer.stp_state}, not "
                          "forwarding")
        if not peer.bridge.up:
            yield Problem(ERROR, where, f"bridge {peer.bridge.name} is down")
    if not interface.up or (peer is not None and not peer.up):
        ends = interface.name if not interface.up else peer.name if peer else interface.name
        yield Problem(ERROR, where, f"{ends} is down")
    if interface.mtu != plan.mtu or (peer is not None and peer.mtu != plan.mtu):
        yield Problem(WARNING, where, f"MTU {interface.mtu}/{peer.mtu if peer else '-'} "
                      f"(namespace/host), the network's is {plan.mtu}: large packets are "
                      "dropped")
    if plan.mac and interface.mac != plan.mac.lower():
        yield Problem(WARNING, where, f"MAC {interface.mac}, the port's is {plan.mac}")
    have = set(interface.addresses)
    missing = set(plan.addresses) - have
    extra = have - set(plan.addresses) - set(plan.floating)
    if missing:
        yield Problem(ERROR, where, f"address {', '.join(sorted(missing))} is missing")
    if extra:
        yield Problem(WARNING, where, f"address {', '.join(sorted(extra))} is not the port's")


def _bridge(where: str, host_end: str, bridge: str, filtering: bool, vlans: list,
            plan: PlannedPort) -> Iterator[Problem]:
    """Is the host end on the bridge (and VLAN) the network maps to?"""
    if plan.vlan is not None and filtering:
        if plan.bridge is not None and bridge != plan.bridge:
            yield Problem(ERROR, where, f"{host_end} is on bridge {bridge}, the physnet "
                          f"{plan.physical_network} maps to {plan.bridge}")
        pvid = [v.vid for v in vlans if v.pvid]
        if pvid != [plan.vlan]:
            yield Problem(ERROR, where, f"{host_end} is an access port of VLAN "
                          f"{pvid[0] if pvid else 'none'}, the network's is {plan.vlan}")
        return
    wanted = plan.segment_bridge if plan.vlan is not None else plan.bridge
    if wanted is not None and bridge != wanted:
        yield Problem(ERROR, where, f"{host_end} is on bridge {bridge}, the port belongs on "
                      f"{wanted}" + (f" (VLAN {plan.vlan})" if plan.vlan is not None else ""))


def _routes(amphora: AmphoraTrace, plan: PlannedPort) -> Iterator[Problem]:
    have = {(r.interface, _network(r.destination), r.gateway) for r in amphora.routes}
    for route in plan.routes:
        if (route.interface, _network(route.destination), route.gateway) not in have:
            kind = "default route" if _network(route.destination).prefixlen == 0 else "route"
            yield Problem(ERROR if kind == "default route" else WARNING,
                          _where(amphora, plan.interface),
                          f"{kind} to {route.destination} via {route.gateway} is missing: "
                          "replies to clients behind it are lost")


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def _listeners(trace: Trace, amphora: AmphoraTrace) -> Iterator[Problem]:
    """What haproxy serves against the database; objects of a change still being applied
    are not expected yet."""
    haproxy = amphora.haproxy
    if haproxy is None or haproxy.master_pid is None or haproxy.stats_error:
        return  # already said: nothing to read the listeners from
    settled = trace.lb.provisioning_status not in PENDING
    for listener in amphora.listeners:
        where = _where(amphora, f"listener {listener.name or short(listener.listener_id)}")
        if listener.status is None and listener.in_config and settled:
            yield Problem(ERROR, where, f"{listener.protocol}:{listener.port} is in the "
                          "database but haproxy does not serve it")
        elif listener.enabled and listener.status not in ("OPEN",):
            yield Problem(WARNING, where, f"haproxy reports the frontend {listener.status}")
    for backend in amphora.backends:
        where = _where(amphora, f"pool {backend.name or short(backend.pool_id)}")
        if backend.status is None:
            if backend.in_config and settled:
                yield Problem(ERROR, where, "in the database but haproxy does not have it")
            continue
        if backend.status == "DOWN" and backend.in_config and backend.servers:
            yield Problem(ERROR, where, "no member is up: every request to this pool gets "
                          "a 503")
        for server in backend.servers:
            if server.status == "MISSING" and server.in_config and settled:
                yield Problem(ERROR, f"{where} / member {server.address}", "in the database "
                              "but haproxy does not have it")
            elif server.status.startswith("DOWN"):
                yield Problem(WARNING, f"{where} / member {server.address}", f"DOWN "
                              f"({server.check or 'no check result'}): haproxy sends it "
                              "nothing")


def _applied(trace: Trace, amphora: AmphoraTrace) -> Iterator[Problem]:
    applied = amphora.applied
    if applied is None:
        return
    where = _where(amphora, "applied.json")
    if applied.hash is None:
        yield Problem(ERROR, where, "missing: this amphora never confirmed an apply (or its "
                      "confirmation was removed); the next resync applies again")
        return
    if applied.db_hash is not None and applied.hash != applied.db_hash:
        yield Problem(WARNING, where, f"the amphora confirmed bundle {applied.hash[:12]}, the "
                      f"database recorded {applied.db_hash[:12]}")
    if amphora.status in SERVING and applied.db_generation < trace.lb.generation and \
            trace.lb.provisioning_status not in PENDING:
        yield Problem(WARNING, where, f"the amphora settled generation {applied.db_generation}"
                      f", the LB is at {trace.lb.generation}")
