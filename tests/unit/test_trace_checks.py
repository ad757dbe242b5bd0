"""`nslb trace`'s checks over hand-built traces: a healthy path has no problem, and each
break along it (veth without bridge, haproxy down, VIP held twice, a generation not
applied, a namespace missing or left over...) is named where it is."""

from __future__ import annotations

import json
from pathlib import Path

from nslb.model.bundle import NetworkPort
from nslb.ops.findings import ERROR, WARNING
from nslb.ops.trace_checks import diagnose
from nslb.ops.trace_host import HostReads, bridge_vlans, link_state, port_kind
from nslb.ops.trace_model import (
    AmphoraTrace,
    Applied,
    Backend,
    Bridge,
    Haproxy,
    HostEnd,
    Interface,
    Keepalived,
    ListenerState,
    LoadBalancerView,
    PlannedPort,
    Problem,
    Route,
    Server,
    Trace,
    Uplink,
    Vlan,
)
from nslb.ops.trace_read import planned_port, stray_amphora_dirs
from nslb.ops.trace_view import as_json, as_text
from nslb.ops.tree import Node, render

VIP = "10.250.130.10"
LB_ID = "11111111-1111-4111-8111-111111111111"
PORT_A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
PORT_B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def lb(**changes: object) -> LoadBalancerView:
    view = LoadBalancerView(id=LB_ID, name="web", project_id="p", vip_address=VIP,
                            vip_port_id=PORT_A, provisioning_status="ACTIVE",
                            operating_status="ONLINE", admin_state_up=True, generation=4,
                            applied_generation=4, topology="SINGLE")
    for key, value in changes.items():
        setattr(view, key, value)
    return view


def amphora(ident: str, port: str, addresses: list[str], role: str = "STANDALONE",
            state: str = "", floating: tuple[str, ...] = ()) -> AmphoraTrace:
    key = port.replace("-", "")[:11]
    bridge = Bridge(name="br0", index=7, up=True, vlan_filtering=False, ports=3,
                    uplinks=[Uplink("vx42", "vxlan", vni=42, remote="239.1.1.1", port=4789)])
    plan = PlannedPort(port_id=port, interface=f"nsv{key}", host_interface=f"nsh{key}",
                       network_type="flat", physical_network="physnet1", bridge="br0",
                       segment_bridge=None, vlan=None, mtu=1500, mac="fa:16:3e:00:00:01",
                       addresses=[a for a in addresses if a not in floating],
                       floating=list(floating),
                       routes=[Route("0.0.0.0/0", "10.250.130.1", f"nsv{key}")])
    interface = Interface(name=f"nsv{key}", index=2, kind="veth", up=True, mtu=1500,
                          mac="fa:16:3e:00:00:01", addresses=addresses, port_id=port,
                          peer=HostEnd(f"nsh{key}", 40, True, 1500, bridge, "forwarding"))
    pair = role in ("MASTER", "BACKUP")
    return AmphoraTrace(
        id=ident, role=role, status="ALLOCATED", vrrp_ip=None, namespace=f"nslb-{ident}",
        namespace_exists=True, directory=f"/var/lib/nslb/amp/{ident}", directory_exists=True,
        interfaces=[Interface("lo", 1, "loopback", True, 65536, "00:00:00:00:00:00",
                              ["127.0.0.1/8"]), interface],
        routes=[Route("0.0.0.0/0", "10.250.130.1", f"nsv{key}"),
                Route("10.250.130.0/24", None, f"nsv{key}")],
        planned=[plan], holds_vip=any(a.startswith(f"{VIP}/") for a in addresses),
        haproxy=Haproxy(master_pid=100, in_namespace=True, workers=[101]),
        keepalived=Keepalived(expected=pair, pid=200 if pair else None,
                              vrrp_pid=201 if pair else None, in_namespace=pair, state=state),
        listeners=[ListenerState("l1", "http", "HTTP", 80, True, "OPEN", 1, 10, True)],
        backends=[Backend("p1", "pool", "UP", [Server("m1", "10.250.130.21:8080", "UP",
                                                       "L7OK", 1, True)], True)],
        applied=Applied("h" * 64, 4, "h" * 64, 4))


def single() -> Trace:
    return Trace(lb=lb(), amphorae=[amphora("a1", PORT_A, [f"{VIP}/24"])])


def pair() -> Trace:
    return Trace(lb=lb(topology="ACTIVE_STANDBY"), amphorae=[
        amphora("a1", PORT_A, ["10.250.130.11/24", f"{VIP}/24"], "MASTER", "MASTER",
                (f"{VIP}/24",)),
        amphora("a2", PORT_B, ["10.250.130.12/24"], "BACKUP", "BACKUP", (f"{VIP}/24",))])


def problems(trace: Trace) -> list[Problem]:
    return diagnose(trace)


def only(trace: Trace) -> Problem:
    found = problems(trace)
    assert len(found) == 1, found
    return found[0]


def test_healthy_paths_have_no_problem() -> None:
    assert problems(single()) == []
    assert problems(pair()) == []


def test_a_veth_without_a_bridge() -> None:
    trace = single()
    peer = trace.amphorae[0].interfaces[1].peer
    assert peer is not None
    peer.bridge = None
    problem = only(trace)
    assert problem.severity == ERROR and "veth without a bridge" in problem.message
    assert problem.where == f"amphora a1 / nsv{PORT_A.replace('-', '')[:11]}"


def test_a_veth_on_the_wrong_bridge_or_without_peer() -> None:
    trace = single()
    peer = trace.amphorae[0].interfaces[1].peer
    assert peer is not None and peer.bridge is not None
    peer.bridge.name = "br9"
    assert "the port belongs on br0" in only(trace).message
    trace.amphorae[0].interfaces[1].peer = None
    assert "veth without a host end (its peer is gone)" in only(trace).message


def test_vlan_ports_on_filtering_and_segment_bridges() -> None:
    trace = single()
    amp = trace.amphorae[0]
    amp.planned[0].vlan, amp.planned[0].segment_bridge = 101, "nsb1234567v101"
    peer = amp.interfaces[1].peer
    assert peer is not None and peer.bridge is not None
    assert "the port belongs on nsb1234567v101 (VLAN 101)" in only(trace).message
    peer.bridge.name = "nsb1234567v101"
    assert problems(trace) == []
    peer.bridge.name, peer.bridge.vlan_filtering = "br0", True
    peer.vlans = [Vlan(vid=1, pvid=True, untagged=True)]
    assert "access port of VLAN 1, the network's is 101" in only(trace).message
    peer.vlans = [Vlan(vid=101, pvid=True, untagged=True)]
    assert problems(trace) == []


def test_an_uplink_without_carrier_is_named_once_per_bridge() -> None:
    trace = pair()
    for amp in trace.amphorae:
        peer = amp.interfaces[1].peer
        assert peer is not None and peer.bridge is not None
        peer.bridge.uplinks[0].state = "admin down"  # on purpose: nothing to say
    assert problems(trace) == []
    assert "uplink vx42: VXLAN VNI 42 to 239.1.1.1 port 4789, admin down" in as_text(trace)
    for amp in trace.amphorae:
        peer = amp.interfaces[1].peer
        assert peer is not None and peer.bridge is not None
        peer.bridge.uplinks[0].state = "no carrier"
    problem = only(trace)
    assert (problem.severity, problem.where) == (WARNING, "bridge br0 / uplink vx42")
    assert "nothing on this bridge reaches other hosts" in problem.message


def test_link_state_from_sysfs(tmp_path: Path) -> None:
    for name, flags, operstate in (("eth1", "0x1003", "up"), ("eth2", "0x1003", "down"),
                                   ("vx0", "0x1003", "unknown"), ("eth3", "0x1002", "down")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "flags").write_text(f"{flags}\n")
        (tmp_path / name / "operstate").write_text(f"{operstate}\n")
    assert [link_state(n, tmp_path) for n in ("eth1", "eth2", "vx0", "eth3", "gone")] == [
        "up", "no carrier", "up", "admin down", ""]


def test_haproxy_not_running_outside_or_without_workers() -> None:
    trace = single()
    haproxy = trace.amphorae[0].haproxy
    assert haproxy is not None
    haproxy.master_pid = None
    problem = only(trace)
    assert (problem.severity, problem.message) == (ERROR, "haproxy is not running")
    haproxy.master_pid, haproxy.in_namespace = 100, False
    assert "runs outside" in only(trace).message
    haproxy.in_namespace, haproxy.workers = True, []
    assert "has no worker" in only(trace).message


def test_the_vip_held_by_two_namespaces() -> None:
    trace = pair()
    standby = trace.amphorae[1]
    standby.interfaces[1].addresses.append(f"{VIP}/24")
    standby.holds_vip = True
    found = problems(trace)
    assert [p.severity for p in found] == [ERROR, ERROR]
    assert "held by 2 namespaces at once (nslb-a1, nslb-a2)" in found[0].message
    assert found[1].where == "amphora a2"
    assert "its VRRP state is BACKUP" in found[1].message


def test_no_vip_holder_and_vrrp_states_that_disagree() -> None:
    trace = pair()
    master = trace.amphorae[0]
    master.interfaces[1].addresses.remove(f"{VIP}/24")
    master.holds_vip = False
    messages = [p.message for p in problems(trace)]
    assert "no namespace holds the VIP: nothing answers on it" in messages
    assert any("VRRP state is MASTER but the VIP is not" in m for m in messages)
    trace = pair()
    assert trace.amphorae[1].keepalived is not None
    trace.amphorae[1].keepalived.state = "MASTER"
    assert "split brain" in problems(trace)[0].message


def test_keepalived_down_or_fault() -> None:
    trace = pair()
    keepalived = trace.amphorae[1].keepalived
    assert keepalived is not None
    keepalived.pid = None
    assert "keepalived is not running" in only(trace).message
    keepalived.pid, keepalived.state = 200, "FAULT"
    assert "VRRP state FAULT" in only(trace).message


def test_generations() -> None:
    trace = single()
    trace.lb.generation = 5
    problem = problems(trace)[0]
    assert problem.severity == ERROR
    assert "generation 5 is not applied (the data plane has 4)" in problem.message
    trace.lb.provisioning_status = "PENDING_UPDATE"
    assert {p.severity for p in problems(trace)} == {WARNING}
    trace.lb.provisioning_status = "ERROR"
    assert "the last change failed" in problems(trace)[0].message


def test_applied_json_missing_or_disagreeing() -> None:
    trace = single()
    applied = trace.amphorae[0].applied
    assert applied is not None
    applied.hash = None
    assert "never confirmed an apply" in only(trace).message
    applied.hash = "f" * 64
    assert "the database recorded hhhhhhhhhhhh" in only(trace).message


def test_namespace_in_the_database_but_not_on_the_host_and_the_reverse() -> None:
    trace = single()
    trace.amphorae[0].namespace_exists = False
    trace.amphorae[0].holds_vip = False
    messages = [p.message for p in problems(trace)]
    assert "nslb-a1 is in the database (ALLOCATED) but not on the host" in messages
    trace = single()
    stray = amphora("a9", PORT_B, ["10.250.130.99/24"])
    stray.in_database, stray.status = False, ""
    trace.amphorae.append(stray)
    problem = only(trace)
    assert problem.severity == WARNING and "no live amphora row owns it" in problem.message


def test_listeners_and_members_against_haproxy() -> None:
    trace = single()
    amp = trace.amphorae[0]
    amp.listeners[0].status = None
    assert "haproxy does not serve it" in only(trace).message
    amp.listeners[0].status = "OPEN"
    amp.backends[0].servers[0].status, amp.backends[0].servers[0].check = "DOWN", "L4CON"
    assert "DOWN (L4CON)" in only(trace).message
    amp.backends[0].status = "DOWN"
    assert [p.severity for p in problems(trace)] == [ERROR, WARNING]
    amp.backends[0].status = "UP"
    amp.backends[0].servers[0].status = "MISSING"
    assert "haproxy does not have it" in only(trace).message
    amp.backends[0].servers[0].in_config = False  # not rendered (e.g. being deleted)
    assert problems(trace) == []


def test_missing_route_and_address() -> None:
    trace = single()
    trace.amphorae[0].routes = trace.amphorae[0].routes[1:]
    assert "default route to 0.0.0.0/0 via 10.250.130.1 is missing" in only(trace).message
    trace = single()
    trace.amphorae[0].planned[0].addresses = ["10.250.130.5/24"]
    messages = [p.message for p in problems(trace)]
    assert "address 10.250.130.5/24 is missing" in messages


def test_text_and_json_output() -> None:
    trace = pair()
    trace.problems = diagnose(trace)
    text = as_text(trace)
    assert text.startswith(f"load balancer web {LB_ID} (project p)")
    assert "├── amphora a1, role MASTER, ALLOCATED, holds the VIP" in text
    assert f"{VIP}/24 (VIP)" in text
    assert "uplink vx42: VXLAN VNI 42 to 239.1.1.1 port 4789" in text
    assert "keepalived pid 200 (VRRP child 201): VRRP state MASTER" in text
    assert "member 10.250.130.21:8080 UP (L7OK), weight 1" in text
    assert text.endswith("no problems found (VIP held by amphora a1)")
    trace.amphorae[0].haproxy = Haproxy(master_pid=None, in_namespace=False, workers=[])
    trace.problems = diagnose(trace)
    assert "haproxy: NOT RUNNING" in as_text(trace)
    assert "ERROR   amphora a1 / haproxy  haproxy is not running" in as_text(trace)
    data = json.loads(as_json(trace))
    assert data["vip_holders"] == ["a1"] and data["ok"] is False
    assert data["amphorae"][0]["interfaces"][1]["peer"]["bridge"]["name"] == "br0"


def test_tree_rendering() -> None:
    root = Node("root")
    a = root.add("a\ncontinued")
    a.add("a1")
    root.add("b").add("b1")
    assert render(root) == ("root\n├── a\n│   continued\n│   └── a1\n└── b\n    └── b1")


def test_planned_port_from_a_bundle_port() -> None:
    port = NetworkPort(port_id=PORT_A, physical_network="physnet1", network_type="vlan",
                       segmentation_id=101, mtu=1450, mac="fa:16:3e:00:00:01",
                       addresses=("10.250.130.11/24",), gateway="10.250.130.1",
                       host_routes=(("10.9.0.0/16", "10.250.130.254"),),
                       floating=(f"{VIP}/24",))
    plan = planned_port(port, {"physnet1": "br0"})
    assert plan.bridge == "br0" and plan.vlan == 101
    assert plan.segment_bridge is not None and plan.segment_bridge.endswith("v101")
    assert [(r.destination, r.gateway) for r in plan.routes] == [
        ("0.0.0.0/0", "10.250.130.1"), ("10.9.0.0/16", "10.250.130.254")]
    assert planned_port(port, {}).bridge is None


def test_stray_amphora_directories_of_an_lb_are_found_by_their_config(tmp_path: Path) -> None:
    ours, other, known = ("22222222-2222-4222-8222-222222222222",
                          "33333333-3333-4333-8333-333333333333",
                          "55555555-5555-4555-8555-555555555555")
    for ident, owner in ((ours, LB_ID), (other, "44444444-4444-4444-8444-444444444444"),
                         (known, LB_ID)):
        (tmp_path / "amp" / ident).mkdir(parents=True)
        (tmp_path / "amp" / ident / "haproxy.cfg").write_text(
            f"# Configuration for loadbalancer {owner}\nglobal\n")
    # a directory a database row owns is no stray, whatever its config says
    assert stray_amphora_dirs(tmp_path, LB_ID, {known}) == [ours]
    assert stray_amphora_dirs(tmp_path / "nowhere", LB_ID, set()) == []


def test_bridge_port_kinds_from_sysfs(tmp_path: Path) -> None:
    for name, uevent in (("vx0", "DEVTYPE=vxlan\nINTERFACE=vx0\n"),
                         ("eth1", "INTERFACE=eth1\n"), ("peer0", "INTERFACE=peer0\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "uevent").write_text(uevent)
    (tmp_path / "eth1" / "device").mkdir()
    (tmp_path / "peer0" / "ifindex").write_text("7\n")
    (tmp_path / "peer0" / "iflink").write_text("8\n")
    assert port_kind("vx0", tmp_path) == "vxlan"
    assert port_kind("eth1", tmp_path) == "device"
    assert port_kind("peer0", tmp_path) == "veth"
    # nslb's own host ends are not looked up at all (there is nothing under tmp_path)
    assert port_kind("nsh0123456789a", tmp_path) == "veth"


class _VlanDump:
    """What pyroute2's get_vlans() yields: one message per bridge port, its VLANs as
    IFLA_BRIDGE_VLAN_INFO attributes (flags: 2 PVID, 4 untagged)."""

    def __init__(self, index: int, vlans: list[tuple[int, int]]) -> None:
        self.index = index
        self.spec = {"attrs": [("IFLA_BRIDGE_VLAN_INFO", {"vid": vid, "flags": flags})
                               for vid, flags in vlans]}

    def __getitem__(self, key: str) -> int:
        return self.index

    def get_attr(self, name: str) -> object:
        return self.spec if name == "IFLA_AF_SPEC" else None


class _Host:
    def __init__(self) -> None:
        self.dumps = 0

    def get_vlans(self) -> list[_VlanDump]:
        self.dumps += 1
        return [_VlanDump(7, [(1, 0), (207, 6)]), _VlanDump(8, [(1, 6)])]


def test_bridge_vlans_come_from_one_dump_per_trace() -> None:
    host, reads = _Host(), HostReads()
    first = bridge_vlans(host, reads)  # type: ignore[arg-type]
    assert first[7] == [Vlan(1, pvid=False, untagged=False), Vlan(207, pvid=True, untagged=True)]
    assert first[8] == [Vlan(1, pvid=True, untagged=True)]
    assert bridge_vlans(host, reads) is first and host.dumps == 1  # type: ignore[arg-type]
