"""A Trace for people (a tree, then the problems) and for scripts (JSON)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from nslb.ops.findings import ERROR
from nslb.ops.trace_checks import short
from nslb.ops.trace_model import (
    AmphoraTrace,
    Backend,
    Bridge,
    Interface,
    PlannedPort,
    Trace,
)
from nslb.ops.tree import Node, render


def as_json(trace: Trace) -> str:
    data: dict[str, Any] = asdict(trace)
    data["vip_holders"] = trace.vip_holders
    data["ok"] = not trace.problems
    return json.dumps(data, indent=2, sort_keys=False)


def as_text(trace: Trace) -> str:
    lb = trace.lb
    root = Node(f"load balancer {lb.name or '(no name)'} {lb.id} (project {lb.project_id})\n"
                f"{lb.provisioning_status}/{lb.operating_status}, {lb.topology}, "
                f"VIP {lb.vip_address} (port {lb.vip_port_id})\n"
                f"generation {lb.generation}, applied {lb.applied_generation}")
    for amphora in trace.amphorae:
        _amphora(root, trace, amphora)
    return render(root) + "\n\n" + problems_text(trace)


def problems_text(trace: Trace) -> str:
    if not trace.problems:
        holders = ", ".join(short(h) for h in trace.vip_holders) or "none"
        return f"no problems found (VIP held by amphora {holders})"
    width = max(len(p.where) for p in trace.problems)
    lines = [f"{len(trace.problems)} problem{'s' if len(trace.problems) > 1 else ''}:"]
    for problem in trace.problems:
        tag = "ERROR  " if problem.severity == ERROR else "WARNING"
        lines.append(f"  {tag} {problem.where:<{width}}  {problem.message}")
    return "\n".join(lines)


def _amphora(root: Node, trace: Trace, amphora: AmphoraTrace) -> None:
    status = amphora.status if amphora.in_database else "not in the database"
    vip = ", holds the VIP" if amphora.holds_vip else ""
    node = root.add(f"amphora {amphora.id}, role {amphora.role or '?'}, {status}{vip}"
                    + (f", VRRP address {amphora.vrrp_ip}" if amphora.vrrp_ip else ""))
    if not amphora.namespace_exists:
        node.add(f"namespace {amphora.namespace}: not on this host")
    else:
        _namespace(node.add(f"namespace {amphora.namespace}"), trace, amphora)
    if not amphora.directory_exists:
        node.add(f"directory {amphora.directory}: missing")
        return
    _keepalived(node, amphora)
    _haproxy(node, amphora)
    applied = amphora.applied
    if applied is not None:
        confirmed = (f"generation {applied.generation}, bundle {applied.hash[:12]}"
                     if applied.hash else "nothing confirmed (no applied.json)")
        recorded = (f"generation {applied.db_generation}, bundle {applied.db_hash[:12]}"
                    if applied.db_hash else f"generation {applied.db_generation}")
        node.add(f"last apply: {confirmed}; database: {recorded}")


def _namespace(node: Node, trace: Trace, amphora: AmphoraTrace) -> None:
    plans = {p.port_id: p for p in amphora.planned}
    for interface in amphora.interfaces:
        if interface.kind == "loopback":
            continue
        plan = plans.get(interface.port_id or "")
        _interface(node, trace, interface, plan)
    seen = {i.port_id for i in amphora.interfaces}
    for plan in amphora.planned:
        if plan.port_id not in seen:
            node.add(f"{plan.interface}: MISSING (port {plan.port_id}, "
                     f"{', '.join(plan.addresses)})")
    if amphora.routes:
        routes = node.add("routes")
        for route in amphora.routes:
            via = f" via {route.gateway}" if route.gateway else ""
            routes.add(f"{route.destination}{via} dev {route.interface}")


def _interface(parent: Node, trace: Trace, interface: Interface,
               plan: PlannedPort | None) -> None:
    addresses = ", ".join(a + (" (VIP)" if a.split("/")[0] == trace.lb.vip_address else "")
                          for a in interface.addresses) or "no address"
    state = "up" if interface.up else "DOWN"
    node = parent.add(f"{interface.name} {interface.kind} {state} mtu {interface.mtu} "
                      f"{interface.mac}: {addresses}")
    if plan is not None:
        node.add(_plan_label(plan))
    peer = interface.peer
    if peer is None:
        node.add("veth peer in another namespace" if interface.peer_outside_host
                 else "no veth peer on the host" if interface.kind == "veth" else "no peer")
        return
    end = node.add(f"peer {peer.name} {'up' if peer.up else 'DOWN'} mtu {peer.mtu}"
                   + (f", bridge port {peer.stp_state}" if peer.stp_state else ""))
    if peer.bridge is None:
        end.add("bridge: NONE (not a port of any bridge)")
        return
    _bridge(end, peer.bridge, plan, [v.vid for v in peer.vlans if v.pvid])


def _plan_label(plan: PlannedPort) -> str:
    network = f"{plan.network_type} on {plan.physical_network or '?'}"
    if plan.vlan is not None:
        network += f", VLAN {plan.vlan}"
    floating = f", VIP moved by keepalived {', '.join(plan.floating)}" if plan.floating else ""
    bridge = f" -> bridge {plan.bridge}" if plan.bridge else " (physnet not mapped here)"
    return f"port {plan.port_id}: {network}{bridge}{floating}"


def _bridge(parent: Node, bridge: Bridge, plan: PlannedPort | None, pvid: list[int]) -> None:
    filtering = "VLAN filtering on" if bridge.vlan_filtering else "no VLAN filtering"
    label = (f"bridge {bridge.name} {'up' if bridge.up else 'DOWN'}, {filtering}, "
             f"{bridge.ports} port{'s' if bridge.ports != 1 else ''}")
    if plan is not None and plan.vlan is not None:
        if bridge.vlan_filtering:
            label += f"; access port of VLAN {pvid[0] if pvid else 'none'}"
        else:
            label += f"; VLAN {plan.vlan} as a bridge of its own (this kernel cannot filter)"
    node = parent.add(label)
    for uplink in bridge.uplinks:
        if uplink.kind == "vxlan":
            detail = f"VXLAN VNI {uplink.vni}" + (f" to {uplink.remote}" if uplink.remote
                                                   else "") + (f" port {uplink.port}"
                                                               if uplink.port else "")
        elif uplink.kind == "vlan":
            detail = f"802.1q VLAN {uplink.vlan_id}"
        else:
            detail = uplink.kind
        state = f", {uplink.state}" if uplink.state and uplink.state != "up" else ""
        node.add(f"uplink {uplink.name}: {detail}{state}")
    if not bridge.uplinks:
        node.add("no uplink: the bridge reaches only this host's namespaces")


def _keepalived(node: Node, amphora: AmphoraTrace) -> None:
    keepalived = amphora.keepalived
    if keepalived is None or (not keepalived.expected and keepalived.pid is None):
        return
    if keepalived.pid is None:
        node.add("keepalived: NOT RUNNING")
        return
    vrrp = f" (VRRP child {keepalived.vrrp_pid})" if keepalived.vrrp_pid else ""
    outside = "" if keepalived.in_namespace else ", OUTSIDE its namespace"
    node.add(f"keepalived pid {keepalived.pid}{vrrp}{outside}: VRRP state "
             f"{keepalived.state or 'not reported yet'}")


def _haproxy(node: Node, amphora: AmphoraTrace) -> None:
    haproxy = amphora.haproxy
    if haproxy is None or haproxy.master_pid is None:
        node.add("haproxy: NOT RUNNING")
        return
    workers = ", ".join(map(str, haproxy.workers)) or "NONE"
    outside = "" if haproxy.in_namespace else ", OUTSIDE its namespace"
    proc = node.add(f"haproxy master {haproxy.master_pid}, workers {workers}{outside}")
    if haproxy.stats_error:
        proc.add(f"stats socket: {haproxy.stats_error}")
        return
    for listener in amphora.listeners:
        status = listener.status or "NOT SERVED"
        proc.add(f"listener {listener.name or short(listener.listener_id)} "
                 f"{listener.protocol}:{listener.port} {status}, "
                 f"{listener.current_sessions} sessions now, {listener.total_sessions} total")
    for backend in amphora.backends:
        _backend(proc, backend)


def _backend(parent: Node, backend: Backend) -> None:
    node = parent.add(f"pool {backend.name or short(backend.pool_id)} "
                      f"{backend.status or 'NOT IN HAPROXY'}")
    for server in backend.servers:
        check = f" ({server.check})" if server.check else ""
        weight = f", weight {server.weight}" if server.weight is not None else ""
        node.add(f"member {server.address} {server.status}{check}{weight}")
