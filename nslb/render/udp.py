"""UDP listeners as nftables rules in the amphora's namespace. Pure, like the rest of render/.

Octavia serves UDP with keepalived's IPVS; this kernel has none, but nftables can do the
same job in the kernel: per listener, new flows to VIP:port are DNATed to a member chosen
by weight (`numgen inc`, ROUND_ROBIN) or by a hash of the source (`jhash`, SOURCE_IP);
SOURCE_IP session persistence is a timed set per member of (masked) client addresses,
looked up before the choice; the flows are source-NATed towards the members (they answer
the amphora, as in Octavia); the forward chain passes only those flows.

Two steps, both pure:
- `build_view(snapshot)` makes the typed `UdpView`: every value passes nslb.render.values
  (uuids, canonical addresses, integers in range, fixed words, netmasks). The view goes
  into the bundle as `udp.json`; the amphora's UDP agent (nslb.amphora.udp_agent) reads it
  back through `UdpView.from_json`, which validates every value again.
- `render_udp(view, down)` prints the rules for the members the agent currently finds
  down (health checks): a member that is down or disabled is simply not in the rules.

nft runs as root and parses this text: names are derived from ids (hex only), numbers are
integers, addresses canonical, and nothing a tenant typed is ever printed otherwise.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import jinja2

from nslb.model.enums import LbAlgorithm, SessionPersistenceType
from nslb.model.resources import HealthMonitor, Listener, Member, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render import values as v
from nslb.render.haproxy import TEMPLATES

TABLE = "nslb_udp"
# IPVS's (and so keepalived's) persistence timeout when the pool names none.
DEFAULT_PERSISTENCE_TIMEOUT = 360
MAX_PERSISTENCE_TIMEOUT = 31_536_000  # a year
UDP_HM_TYPES = frozenset({"UDP-CONNECT", "TCP", "HTTP"})
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS",
                          "PATCH", "CONNECT"})
ALGORITHMS = {LbAlgorithm.ROUND_ROBIN.value: "numgen", LbAlgorithm.SOURCE_IP.value: "jhash"}


@dataclass(frozen=True)
class MonitorView:
    """A health monitor of a UDP pool, run by the amphora's UDP agent."""

    type: str
    delay: int
    timeout: int
    rise: int  # max_retries: successes in a row before a member is UP again
    fall: int  # max_retries_down: failures in a row before it is DOWN
    http_method: str = "GET"
    url_path: str = "/"
    expected_codes: str = "200"
    domain_name: str | None = None
    http_version: float | None = None


@dataclass(frozen=True)
class MemberView:
    id: str
    address: str
    port: int
    weight: int
    backup: bool
    enabled: bool
    monitor_address: str
    monitor_port: int


@dataclass(frozen=True)
class PoolView:
    id: str
    algorithm: str  # numgen | jhash
    seed: int  # the jhash seed: the same on both amphorae of a pair, so takeovers agree
    persistence_timeout: int  # 0: no session persistence
    persistence_mask: str  # "" for the whole address
    members: tuple[MemberView, ...]
    monitor: MonitorView | None


@dataclass(frozen=True)
class ListenerView:
    id: str
    port: int
    enabled: bool
    connection_limit: int  # -1: none
    pool_id: str | None
    # allowed_cidrs of the VIP's family; `restricted` when the listener has any at all (a
    # listener whose CIDRs are all of the other family admits nobody).
    allowed_cidrs: tuple[str, ...] = ()
    restricted: bool = False
    # connection_logging, with the host collecting access logs: the agent logs each flow
    # of this listener when it ends (nslb.amphora.udp_flowlog)
    log: bool = False


@dataclass(frozen=True)
class UdpView:
    lb_id: str
    vip: str
    family: str  # ip | ip6
    listeners: tuple[ListenerView, ...]
    pools: tuple[PoolView, ...]
    # Where flow log lines go (the host's access log socket), None when the host collects
    # no access logs; the project id as a log word (`-` when it is not one).
    log_socket: str | None = None
    project: str = "-"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> UdpView:
        """The view as the bundle carried it, every value checked again (the file sits in
        the amphora's directory, and its values reach nft)."""
        try:
            data: dict[str, Any] = json.loads(text)
            return _checked(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, v.UnsafeValue):
                raise
            raise v.UnsafeValue(f"udp.json ({type(exc).__name__})") from None


# --- from the snapshot ---------------------------------------------------------------------


def udp_listeners(snapshot: LoadBalancerSnapshot) -> list[Listener]:
    return [li for li in snapshot.listeners if li.protocol == "UDP"]


def udp_pools(snapshot: LoadBalancerSnapshot) -> list[Pool]:
    """Admin-up UDP pools; a disabled pool disappears, as in haproxy.cfg."""
    return [p for p in snapshot.pools if p.protocol == "UDP" and p.admin_state_up]


def build_view(snapshot: LoadBalancerSnapshot, log_socket: str | None = None) -> UdpView | None:
    """The UDP part of the LB, or None when it has no UDP listener or pool. `log_socket`:
    the host's access log socket (None: the host collects no access logs)."""
    listeners, pools = udp_listeners(snapshot), udp_pools(snapshot)
    if not listeners and not pools:
        return None
    vip = v.address(snapshot.lb.vip_address or snapshot.vip.address, "VIP address")
    ipv6 = ipaddress.ip_address(vip).version == 6
    pool_ids = {p.id for p in pools}
    lb_up = snapshot.lb.admin_state_up
    return UdpView(
        lb_id=v.uuid(snapshot.lb.id, "load balancer id"),
        vip=vip,
        family="ip6" if ipv6 else "ip",
        listeners=tuple(_listener(li, lb_up, pool_ids, ipv6, log_socket is not None)
                        for li in listeners),
        pools=tuple(_pool(p, snapshot.members_of(p.id), snapshot.healthmonitor_of(p.id),
                          ipv6) for p in pools),
        log_socket=None if log_socket is None else v.file_path(log_socket, "log socket"),
        project=v.log_token_or_dash(snapshot.lb.project_id),
    )


def _listener(li: Listener, lb_up: bool, pool_ids: set[str], ipv6: bool,
              logs: bool) -> ListenerView:
    pool_id = li.default_pool_id if li.default_pool_id in pool_ids else None
    cidrs = [v.network(c, "allowed_cidrs") for c in li.allowed_cidrs]
    return ListenerView(id=v.uuid(li.id, "listener id"),
                        allowed_cidrs=tuple(c for c in cidrs if (":" in c) == ipv6),
                        restricted=bool(cidrs),
                        port=v.port(li.protocol_port, "protocol_port"),
                        enabled=bool(li.admin_state_up and lb_up),
                        connection_limit=v.integer(li.connection_limit, -1,
                                                   what="connection_limit"),
                        pool_id=None if pool_id is None else v.uuid(pool_id, "default_pool_id"),
                        log=logs and bool(li.connection_logging))


def _pool(pool: Pool, members: list[Member], hm: HealthMonitor | None, ipv6: bool) -> PoolView:
    sp = pool.session_persistence or {}
    persistent = sp.get("type") == SessionPersistenceType.SOURCE_IP
    timeout = sp.get("persistence_timeout") or DEFAULT_PERSISTENCE_TIMEOUT
    mask = (sp.get("persistence_granularity") or "") if persistent else ""
    return PoolView(
        id=v.uuid(pool.id, "pool id"),
        algorithm=ALGORITHMS.get(pool.lb_algorithm, "") or _refuse("lb_algorithm"),
        seed=int(pool.id.replace("-", "")[:8], 16),
        persistence_timeout=v.integer(timeout, 1, MAX_PERSISTENCE_TIMEOUT,
                                      "persistence_timeout") if persistent else 0,
        persistence_mask=netmask(mask, ipv6) if mask else "",
        members=tuple(_member(m) for m in members),
        monitor=_monitor(hm) if hm is not None and hm.admin_state_up else None,
    )


def _refuse(what: str) -> str:
    raise v.UnsafeValue(what)


def netmask(value: object, ipv6: bool) -> str:
    """A contiguous netmask of the VIP's family, canonical (what `& mask` may print)."""
    mask = v.address(value, "persistence_granularity")
    bits = ipaddress.ip_address(mask)
    if (bits.version == 6) != ipv6:
        raise v.UnsafeValue("persistence_granularity")
    width = bits.max_prefixlen
    number = int(bits)
    inverted = ~number & ((1 << width) - 1)
    if inverted & (inverted + 1):  # ones then zeros only
        raise v.UnsafeValue("persistence_granularity")
    return mask


def _member(m: Member) -> MemberView:
    address = v.address(m.address, "member address")
    return MemberView(
        id=v.uuid(m.id, "member id"), address=address,
        port=v.port(m.protocol_port, "member protocol_port"),
        weight=v.integer(m.weight, 0, 256, "weight"), backup=bool(m.backup),
        enabled=bool(m.admin_state_up),
        monitor_address=v.address(m.monitor_address, "monitor_address")
        if m.monitor_address else address,
        monitor_port=v.port(m.monitor_port, "monitor_port") if m.monitor_port
        else v.port(m.protocol_port, "member protocol_port"))


def _monitor(hm: HealthMonitor) -> MonitorView:
    http = hm.type == "HTTP"
    return MonitorView(
        type=v.word(hm.type, UDP_HM_TYPES, "health monitor type"),
        delay=v.integer(hm.delay, 1, 86400, "delay"),
        timeout=v.integer(hm.timeout, 1, 86400, "timeout"),
        rise=v.integer(hm.max_retries, 1, 10, "max_retries"),
        fall=v.integer(hm.max_retries_down, 1, 10, "max_retries_down"),
        http_method=v.word(hm.http_method or "GET", HTTP_METHODS, "http_method"),
        url_path=v.matching(hm.url_path or "/", "URL_PATH", "url_path") if http else "/",
        expected_codes=v.matching(hm.expected_codes or "200", "EXPECTED_CODES",
                                  "expected_codes") if http else "200",
        domain_name=v.matching(hm.domain_name, "DOMAIN", "domain_name")
        if http and hm.domain_name else None,
        http_version=hm.http_version if hm.http_version in (1.0, 1.1) else None)


def _same_family(cidr: str, ipv6: bool) -> str:
    if (":" in cidr) != ipv6:
        raise v.UnsafeValue("allowed_cidrs")
    return cidr


def _checked(data: dict[str, Any]) -> UdpView:
    """Rebuild a view from its JSON through the same guards as build_view."""
    family = v.word(data["family"], {"ip", "ip6"}, "family")
    ipv6 = family == "ip6"
    vip = v.address(data["vip"], "VIP address")
    if (ipaddress.ip_address(vip).version == 6) != ipv6:
        raise v.UnsafeValue("family")
    listeners = tuple(ListenerView(
        id=v.uuid(li["id"], "listener id"), port=v.port(li["port"]),
        enabled=li["enabled"] is True,
        connection_limit=v.integer(li["connection_limit"], -1, what="connection_limit"),
        pool_id=None if li["pool_id"] is None else v.uuid(li["pool_id"], "pool id"),
        allowed_cidrs=tuple(_same_family(v.network(c, "allowed_cidrs"), ipv6)
                            for c in li["allowed_cidrs"]),
        restricted=li["restricted"] is True, log=li.get("log") is True)
        for li in data["listeners"])
    pools = []
    for p in data["pools"]:
        hm = p["monitor"]
        monitor = None if hm is None else MonitorView(
            type=v.word(hm["type"], UDP_HM_TYPES, "type"),
            delay=v.integer(hm["delay"], 1, 86400, "delay"),
            timeout=v.integer(hm["timeout"], 1, 86400, "timeout"),
            rise=v.integer(hm["rise"], 1, 10, "rise"), fall=v.integer(hm["fall"], 1, 10, "fall"),
            http_method=v.word(hm["http_method"], HTTP_METHODS, "http_method"),
            url_path=v.matching(hm["url_path"], "URL_PATH", "url_path"),
            expected_codes=v.matching(hm["expected_codes"], "EXPECTED_CODES", "codes"),
            domain_name=None if hm["domain_name"] is None
            else v.matching(hm["domain_name"], "DOMAIN", "domain_name"),
            http_version=hm["http_version"] if hm["http_version"] in (1.0, 1.1) else None)
        members = tuple(MemberView(
            id=v.uuid(m["id"], "member id"), address=v.address(m["address"]),
            port=v.port(m["port"]), weight=v.integer(m["weight"], 0, 256, "weight"),
            backup=m["backup"] is True, enabled=m["enabled"] is True,
            monitor_address=v.address(m["monitor_address"]),
            monitor_port=v.port(m["monitor_port"])) for m in p["members"])
        pools.append(PoolView(
            id=v.uuid(p["id"], "pool id"),
            algorithm=v.word(p["algorithm"], set(ALGORITHMS.values()), "algorithm"),
            seed=v.integer(p["seed"], 0, 2**32 - 1, "seed"),
            persistence_timeout=v.integer(p["persistence_timeout"], 0,
                                          MAX_PERSISTENCE_TIMEOUT, "persistence_timeout"),
            persistence_mask=netmask(p["persistence_mask"], ipv6)
            if p["persistence_mask"] else "",
            members=members, monitor=monitor))
    socket = data.get("log_socket")
    return UdpView(lb_id=v.uuid(data["lb_id"], "load balancer id"), vip=vip, family=family,
                   listeners=listeners, pools=tuple(pools),
                   log_socket=None if socket is None else v.file_path(socket, "log socket"),
                   project=v.log_token_or_dash(data.get("project", "-")))


# --- the rules for the members that are up ------------------------------------------------


@dataclass(frozen=True)
class MemberRules:
    chain: str
    set: str  # the persistence set ("" without persistence)
    target: str  # `ip to 10.0.0.5:53` / `ip6 to [fd00::5]:53`
    elements: str = ""  # `10.0.0.0 expires 80s, ...`: persistence kept across a reload


@dataclass(frozen=True)
class PoolRules:
    chain: str
    key: str  # the persistence key: `ip saddr & 255.255.255.0`
    timeout: int
    lookups: tuple[MemberRules, ...]  # members a persistent client may stay on
    choice: str  # `numgen inc mod 4 vmap { 0-2 : goto m1, 3 : goto m2 }`, "" when none up
    members: tuple[MemberRules, ...]


@dataclass(frozen=True)
class ListenerRules:
    chain: str
    port: int
    admit: str  # `ip saddr != { 10.0.0.0/8 } drop`, `drop` (nobody), "" (everybody)
    limit: int
    pool_chain: str
    counters: tuple[str, str, str]  # new flows, bytes in, bytes out


@dataclass(frozen=True)
class RulesView:
    lb_id: str
    table: str
    family: str
    vip: str
    set_type: str
    listeners: tuple[ListenerRules, ...]
    pools: tuple[PoolRules, ...]


def short(object_id: str) -> str:
    """An id as an nft identifier (hex only)."""
    return v.uuid(object_id).replace("-", "")


def counter_names(listener_id: str) -> tuple[str, str, str]:
    name = short(listener_id)
    return f"new_{name}", f"in_{name}", f"out_{name}"


def usable(pool: PoolView, down: frozenset[str]) -> list[MemberView]:
    """The members new flows may go to: enabled, not down, weight > 0; backup members
    only when no other member is usable (IPVS's sorry servers)."""
    alive = [m for m in pool.members if m.enabled and m.id not in down and m.weight > 0]
    primary = [m for m in alive if not m.backup]
    return primary or alive


def _target(family: str, member: MemberView) -> str:
    if family == "ip6":
        return f"ip6 to [{member.address}]:{member.port}"
    return f"ip to {member.address}:{member.port}"


def _choice(pool: PoolView, family: str, chosen: list[tuple[MemberView, MemberRules]]) -> str:
    if not chosen:
        return ""
    entries, start = [], 0
    for member, rules in chosen:
        end = start + member.weight - 1
        span = str(start) if end == start else f"{start}-{end}"
        entries.append(f"{span} : goto {rules.chain}")
        start = end + 1
    how = "numgen inc" if pool.algorithm == "numgen" else \
        f"jhash {family} saddr mod {start} seed 0x{pool.seed:08x}"
    modulus = f" mod {start}" if pool.algorithm == "numgen" else ""
    return f"{how}{modulus} vmap {{ {', '.join(entries)} }}"


Kept = Mapping[str, Sequence[tuple[object, object]]]


def _elements(kept: Sequence[tuple[object, object]], family: str, timeout: int) -> str:
    """Persistence entries read back from the kernel before a reload, as set elements
    (checked like everything else: they are printed into the rules)."""
    out = []
    for address, expires in kept:
        value = v.address(address, "persistence entry")
        if (":" in value) != (family == "ip6"):
            raise v.UnsafeValue("persistence entry")
        seconds = min(v.integer(expires, 0, MAX_PERSISTENCE_TIMEOUT, "expires"), timeout)
        if seconds > 0:
            out.append(f"{value} timeout {timeout}s expires {seconds}s")
    return ", ".join(out)


def _pool_rules(pool: PoolView, family: str, down: frozenset[str], kept: Kept) -> PoolRules:
    persistent = pool.persistence_timeout > 0
    members = {}
    for m in pool.members:
        if m.enabled and m.id not in down:
            name = short(m.id)
            members[m.id] = MemberRules(
                chain=f"m{name}", set=f"s{name}" if persistent else "",
                target=_target(family, m),
                elements=_elements(kept.get(f"s{name}", ()), family, pool.persistence_timeout)
                if persistent else "")
    key = f"{family} saddr" + (f" & {pool.persistence_mask}" if pool.persistence_mask else "")
    chosen = [(m, members[m.id]) for m in usable(pool, down)]
    return PoolRules(chain=f"p{short(pool.id)}", key=key if persistent else "",
                     timeout=pool.persistence_timeout,
                     lookups=tuple(members.values()) if persistent else (),
                     choice=_choice(pool, family, chosen), members=tuple(members.values()))


def _admit(family: str, listener: ListenerView) -> str:
    if not listener.restricted:
        return ""
    if not listener.allowed_cidrs:
        return "drop"
    return f"{family} saddr != {{ {', '.join(listener.allowed_cidrs)} }} drop"


def rules_view(view: UdpView, down: frozenset[str] = frozenset(),
               kept: Kept | None = None) -> RulesView:
    pools = {p.id: _pool_rules(p, view.family, down, kept or {}) for p in view.pools}
    listeners = tuple(ListenerRules(chain=f"l{short(li.id)}", port=li.port,
                                    admit=_admit(view.family, li),
                                    limit=li.connection_limit,
                                    pool_chain=pools[li.pool_id].chain if li.pool_id in pools
                                    else "", counters=counter_names(li.id))
                      for li in view.listeners if li.enabled)
    return RulesView(lb_id=view.lb_id, table=TABLE, family=view.family, vip=view.vip,
                     set_type="ipv6_addr" if view.family == "ip6" else "ipv4_addr",
                     listeners=listeners, pools=tuple(pools.values()))


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("udp.nft.j2")


def render_udp(view: UdpView, down: frozenset[str] = frozenset(),
               kept: Kept | None = None) -> str:
    """The amphora's UDP table with the members in `down` left out; `kept`: persistence
    set name -> (client key, seconds left) read from the table being replaced."""
    return _template().render(v=rules_view(view, down, kept))


def view_hash(text: str) -> str:
    """What the agent reports it serves: the hash of udp.json's text."""
    return hashlib.sha256(text.encode()).hexdigest()


def delete_table() -> str:
    """What removes the table (a bundle without UDP); harmless when there is none."""
    return f"table inet {TABLE}\ndelete table inet {TABLE}\n"
