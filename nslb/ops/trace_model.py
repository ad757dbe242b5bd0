"""What `nslb trace` found along the path of one VIP, as plain data.

The reader (trace_read.py) fills these from the database and the host; the checks
(trace_checks.py) are pure functions over them, and the renderers print them as a tree or
as JSON (`dataclasses.asdict`). Nothing here does I/O, so every check can be tested with a
hand-built Trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    # findings.ERROR: traffic is lost now, or will be at the next event (failover,
    # reload); findings.WARNING: worth a look, nothing is lost yet or it may be on purpose
    severity: str
    where: str     # the part of the path, e.g. "amphora 1a2b3c4d / nsv0123456789a"
    message: str


@dataclass
class Route:
    destination: str          # "0.0.0.0/0", "10.0.0.0/24"
    gateway: str | None
    interface: str


@dataclass
class Uplink:
    """A bridge port that is not a veth of a namespace: how the bridge leaves the host
    (a NIC, an 802.1q VLAN interface, a VXLAN tunnel, a bond)."""

    name: str
    kind: str                 # "vxlan", "vlan", "device", "bond", ...
    vni: int | None = None    # VXLAN network identifier
    vlan_id: int | None = None
    remote: str | None = None  # VXLAN remote (unicast peer or multicast group)
    port: int | None = None    # VXLAN UDP destination port
    # "up"; "admin down" (set down on purpose); "no carrier" (set up, but the link is
    # down: a NIC without cable or peer); "" when sysfs did not say
    state: str = ""


@dataclass
class Bridge:
    name: str
    index: int
    up: bool
    vlan_filtering: bool
    ports: int                # how many ports it has (a Linux bridge takes 1023)
    uplinks: list[Uplink] = field(default_factory=list)


@dataclass
class Vlan:
    """A VLAN of a port on a VLAN-filtering bridge."""

    vid: int
    pvid: bool       # untagged frames entering the port get this VLAN
    untagged: bool   # frames leave the port without the tag


@dataclass
class HostEnd:
    """The host end of a namespace's veth, and the bridge it is a port of."""

    name: str
    index: int
    up: bool
    mtu: int
    bridge: Bridge | None
    stp_state: str | None = None   # "forwarding", "blocking", ... (bridge port state)
    vlans: list[Vlan] = field(default_factory=list)


@dataclass
class PlannedPort:
    """What the database plans for one port of an amphora (the bundle the worker renders)."""

    port_id: str
    interface: str            # the interface inside the namespace (nsv<key>)
    host_interface: str       # its veth peer on the host (nsh<key>)
    network_type: str         # flat or vlan
    physical_network: str
    bridge: str | None        # the bridge the physnet maps to; None: not mapped here
    segment_bridge: str | None  # the per-VLAN bridge used when the kernel cannot filter
    vlan: int | None
    mtu: int
    mac: str
    addresses: list[str]      # "address/prefix"
    floating: list[str]       # addresses keepalived moves (an ACTIVE_STANDBY VIP)
    routes: list[Route]


@dataclass
class Interface:
    name: str
    index: int
    kind: str                 # "veth", "loopback", ...
    up: bool
    mtu: int
    mac: str
    addresses: list[str]
    peer: HostEnd | None = None
    # a veth whose other end is not in the host (another namespace, or gone)
    peer_outside_host: bool = False
    port_id: str | None = None  # the planned port this interface carries


@dataclass
class Haproxy:
    master_pid: int | None
    in_namespace: bool
    workers: list[int]
    stats_error: str | None = None  # why the stats socket did not answer


@dataclass
class Keepalived:
    expected: bool            # the amphora is one of an ACTIVE_STANDBY pair
    pid: int | None
    vrrp_pid: int | None
    in_namespace: bool
    state: str                # MASTER, BACKUP, FAULT (vrrp.state), STOPPED, or ""


@dataclass
class Server:
    member_id: str
    address: str              # as haproxy has it, "10.0.0.5:8080"
    status: str               # UP, DOWN, MAINT, "no check", ...
    check: str                # haproxy's last check result (L4OK, L7STS, L4CON...)
    weight: int | None = None
    in_config: bool = False   # the config rendered from the database has it


@dataclass
class Backend:
    pool_id: str
    name: str
    status: str | None        # None: haproxy does not have it
    servers: list[Server] = field(default_factory=list)
    in_config: bool = False


@dataclass
class ListenerState:
    listener_id: str
    name: str
    protocol: str
    port: int
    enabled: bool
    status: str | None        # haproxy's frontend status (OPEN, FULL, STOP); None: not served
    current_sessions: int = 0
    total_sessions: int = 0
    in_config: bool = False


@dataclass
class Applied:
    """The last apply the amphora confirmed (applied.json) and what the database recorded."""

    hash: str | None          # None: applied.json is missing or unreadable
    generation: int | None
    db_hash: str | None
    db_generation: int


@dataclass
class AmphoraTrace:
    id: str
    role: str | None
    status: str               # the amphora row's status; "" for one not in the database
    vrrp_ip: str | None
    namespace: str
    namespace_exists: bool
    directory: str
    directory_exists: bool
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    planned: list[PlannedPort] = field(default_factory=list)
    holds_vip: bool = False
    haproxy: Haproxy | None = None
    keepalived: Keepalived | None = None
    listeners: list[ListenerState] = field(default_factory=list)
    backends: list[Backend] = field(default_factory=list)
    applied: Applied | None = None
    in_database: bool = True


@dataclass
class LoadBalancerView:
    id: str
    name: str
    project_id: str
    vip_address: str
    vip_port_id: str
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    generation: int
    applied_generation: int
    topology: str


@dataclass
class Trace:
    lb: LoadBalancerView
    amphorae: list[AmphoraTrace] = field(default_factory=list)
    plan_error: str | None = None  # why the planned ports could not be rendered
    problems: list[Problem] = field(default_factory=list)

    @property
    def vip_holders(self) -> list[str]:
        return [a.id for a in self.amphorae if a.holds_vip]
