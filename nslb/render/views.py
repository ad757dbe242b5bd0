"""Typed view models of haproxy.cfg, built from a snapshot; templates only print them.

Every decision (what is enabled, which mode, which options) is made here in Python so the
templates stay flat and the rules can be read and unit tested in one place.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from nslb.model.enums import (
    LbAlgorithm,
    ListenerProtocol,
    PoolProtocol,
    SessionPersistenceType,
)
from nslb.model.resources import VRRP_PRIORITY, HealthMonitor, Listener, Member, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.model.tls import SSL_HEADERS
from nslb.render import healthchecks, l7, logformat
from nslb.render import tls as tls_render
from nslb.render import values as v
from nslb.render.limits import frontend_maxconn, global_maxconn

BALANCE = {
    LbAlgorithm.ROUND_ROBIN: "roundrobin",
    LbAlgorithm.LEAST_CONNECTIONS: "leastconn",
    LbAlgorithm.SOURCE_IP: "source",
}
LISTENER_MODE = {ListenerProtocol.HTTP: "http", ListenerProtocol.HTTPS: "tcp",
                 ListenerProtocol.TCP: "tcp", ListenerProtocol.PROMETHEUS: "http",
                 ListenerProtocol.TERMINATED_HTTPS: "http"}
# Listeners answered by one of haproxy's built-in services instead of a pool, and the one
# path it answers (any other gets a 404): Octavia's PROMETHEUS listener is haproxy's own
# exporter (built in since 2.0, USE_PROMEX; `haproxy -vv` lists it under "Available
# services"). It serves this haproxy's metrics, so only this load balancer's, and its
# proxies and servers are named by Octavia ids (frontend = listener, backend = pool,
# server = member). Octavia's amphora also answers only /metrics.
SERVICES = {ListenerProtocol.PROMETHEUS: ("prometheus-exporter", "/metrics")}
POOL_MODE = {PoolProtocol.HTTP: "http", PoolProtocol.HTTPS: "tcp", PoolProtocol.TCP: "tcp"}
PROXY_OPTION = {PoolProtocol.PROXY: "send-proxy", PoolProtocol.PROXYV2: "send-proxy-v2"}
STICK_SIZE = "10k"
DEFAULT_TIMEOUTS = Listener()  # a pool without a listener uses the API's default timeouts


@dataclass(frozen=True)
class GlobalView:
    maxconn: int
    stats_socket: str
    external_check: bool
    user: str
    group: str
    # The syslog hostname of the access log lines: the amphora id (None: no access logs).
    log_hostname: str | None = None
    # Old workers of a reload finish their requests but never linger longer than this
    # (without it, keep-alive connections kept 50 old workers and 254 MB alive).
    hard_stop_after: str = "10s"


@dataclass(frozen=True)
class RingView:
    """The amphora's access log ring: haproxy writes its connection logs into it, the
    host's collector streams it from the stats socket (`show events <name> -w`).

    Why a ring and not a datagram per request to a host socket: in a TLS keep-alive
    benchmark the datagrams and their reader's wake-ups cost a third of the requests/s;
    the ring, read in 64 KB chunks, costs about a seventh (README, Access logs)."""

    name: str
    # Bytes haproxy keeps for a reader that is late (a new worker before the collector
    # connects to it, a collector busy elsewhere). Pages are touched only as lines are
    # written, so an LB without traffic pays nothing for it.
    size: int = 1024 * 1024
    # The longest line (a request path can be long); longer ones are truncated.
    maxlen: int = 4096


@dataclass(frozen=True)
class LogView:
    """A frontend's access log: the amphora's ring, the longest line, the format."""

    target: str
    format: str
    # Longer lines are truncated by haproxy (a request path can be long).
    length: int = 4096


@dataclass(frozen=True)
class FrontendView:
    name: str
    bind: str
    mode: str
    maxconn: int
    enabled: bool
    timeout_client: int
    inspect_delay: int
    allowed_cidrs: str
    default_backend: str | None
    l7_lines: list[str] = field(default_factory=list)
    # Where and how the listener logs its connections; None when it logs nothing.
    log: LogView | None = None
    service: tuple[str, str] | None = None  # `http-request use-service` (SERVICES)
    # TERMINATED_HTTPS: `ssl crt-list ...` and the TLS options after the address, and the
    # Strict-Transport-Security value when HSTS is on.
    bind_options: str = ""
    hsts: str | None = None


@dataclass(frozen=True)
class ServerView:
    name: str
    endpoint: str
    options: str


@dataclass(frozen=True)
class BackendView:
    name: str
    mode: str
    balance: str
    fullconn: int
    timeout_connect: int
    timeout_server: int
    lines: list[str] = field(default_factory=list)
    servers: list[ServerView] = field(default_factory=list)


@dataclass(frozen=True)
class PeerView:
    name: str
    endpoint: str


@dataclass(frozen=True)
class PeersView:
    """HAProxy `peers`: the stick tables of an ACTIVE_STANDBY pair replicate to each other,
    so SOURCE_IP and APP_COOKIE persistence survive a takeover."""

    name: str
    local: str
    peers: list[PeerView]


@dataclass(frozen=True)
class ConfigView:
    lb_id: str
    globals: GlobalView
    frontends: list[FrontendView]
    backends: list[BackendView]
    peers: PeersView | None = None
    # The TLS files the config names (bundle-relative name -> content).
    files: dict[str, str] = field(default_factory=dict)
    # The access log ring; None when no listener may log (the host collects no logs).
    ring: RingView | None = None


def rendered_listeners(snapshot: LoadBalancerSnapshot) -> list[Listener]:
    """Listeners haproxy serves (UDP, SCTP and PROMETHEUS are not handled by this renderer)."""
    return [li for li in snapshot.listeners if li.protocol in LISTENER_MODE]


def rendered_pools(snapshot: LoadBalancerSnapshot) -> list[Pool]:
    """Admin-up pools haproxy can serve; a disabled pool disappears like in Octavia."""
    return [p for p in snapshot.pools if p.admin_state_up and p.protocol in
            (*POOL_MODE, *PROXY_OPTION)]


PEER_PORT = 1025  # Octavia's


def peer_name(amphora_id: str) -> str:
    return v.uuid(amphora_id, "amphora id").replace("-", "")


def build_peers(snapshot: LoadBalancerSnapshot, amphora_id: str | None) -> PeersView | None:
    """The pair's peers section, for an amphora of an ACTIVE_STANDBY LB (None otherwise)."""
    pair = [a for a in snapshot.amphorae if a.vrrp_ip and a.role in VRRP_PRIORITY]
    if amphora_id is None or len(pair) < 2 or amphora_id not in {a.id for a in pair}:
        return None
    return PeersView(
        name=f"{snapshot.lb.id.replace('-', '')}_peers",
        local=peer_name(amphora_id),
        peers=[PeerView(peer_name(a.id), v.endpoint(a.vrrp_ip, PEER_PORT, "peer vrrp_ip"))
               for a in pair])


def build_config(snapshot: LoadBalancerSnapshot, stats_socket: str, fd_limit: int,
                 ping_command: str, user: str = "haproxy", group: str = "haproxy",
                 amphora_id: str | None = None, log_ring: str | None = None,
                 tls_base: str = "") -> ConfigView:
    """Every value goes through nslb.render.values on its way into the view. `log_ring`
    names the ring the amphora's access log goes into (None: nowhere, and no listener
    logs);
    `tls_base` is the amphora's directory, where the TLS files the config names are
    written."""
    peers = build_peers(snapshot, amphora_id)
    listeners = rendered_listeners(snapshot)
    pools = rendered_pools(snapshot)
    monitors = [hm for p in pools if (hm := _monitor(snapshot, p)) is not None]
    checked = sum(len(snapshot.members_of(hm.pool_id)) for hm in monitors)
    ceiling = global_maxconn(fd_limit, [li.connection_limit for li in listeners], checked)
    pool_ids = {p.id for p in pools}
    ring = None if log_ring is None else RingView(v.matching(log_ring, "SYSTEM_NAME", "ring"))
    target = None if ring is None else f"ring@{ring.name}"
    files: dict[str, str] = {}
    frontends = [_frontend(snapshot, li, ceiling, pool_ids, files, tls_base, target)
                 for li in listeners]
    backends = [_backend(snapshot, p, _listener_of(listeners, p), ceiling, ping_command,
                          peers.name if peers else None, files, tls_base) for p in pools]
    return ConfigView(
        lb_id=v.uuid(snapshot.lb.id, "load balancer id"),
        globals=GlobalView(maxconn=v.integer(ceiling, 1, what="maxconn"),
                           stats_socket=v.file_path(stats_socket, "stats socket"),
                           external_check=healthchecks.needs_external_check(monitors),
                           user=v.matching(user, "SYSTEM_NAME", "user"),
                           group=v.matching(group, "SYSTEM_NAME", "group"),
                           log_hostname=None if ring is None
                           else v.uuid(amphora_id or snapshot.lb.id, "amphora id")),
        frontends=frontends,
        backends=backends,
        peers=peers,
        files=files,
        ring=ring,
    )


def _monitor(snapshot: LoadBalancerSnapshot, pool: Pool) -> HealthMonitor | None:
    hm = snapshot.healthmonitor_of(pool.id)
    return hm if hm is not None and hm.admin_state_up else None


def _listener_of(listeners: list[Listener], pool: Pool) -> Listener | None:
    return next((li for li in listeners if li.default_pool_id == pool.id), None)


def _frontend(snapshot: LoadBalancerSnapshot, listener: Listener, ceiling: int,
              pool_ids: set[str], files: dict[str, str], tls_base: str,
              log_target: str | None = None) -> FrontendView:
    """`log_target`: where the listener logs, `ring@<name>` (None: the host collects no
    logs)."""
    protocol = ListenerProtocol(listener.protocol)
    service = SERVICES.get(protocol)
    default = listener.default_pool_id if listener.default_pool_id in pool_ids else None
    mode = LISTENER_MODE[protocol]
    bind_options, hsts = "", None
    if listener.protocol == ListenerProtocol.TERMINATED_HTTPS:
        material = snapshot.listener_tls(listener.id)
        if material is None:
            raise v.UnsafeValue("listener TLS material")
        own = tls_render.listener_files(listener, material)
        name, content = tls_render.crt_list(listener, own, tls_base)
        files.update(own)
        files[name] = content
        bind_options = tls_render.bind_options(listener, own, tls_base)
        hsts = tls_render.hsts_value(listener)
    return FrontendView(
        name=v.uuid(listener.id, "listener id"),
        bind=v.endpoint(snapshot.lb.vip_address or snapshot.vip.address,
                        listener.protocol_port, "VIP address"),
        mode=mode,
        maxconn=v.integer(frontend_maxconn(listener.connection_limit, ceiling), 0,
                          what="connection_limit"),
        enabled=listener.admin_state_up and snapshot.lb.admin_state_up,
        timeout_client=v.integer(listener.timeout_client_data, 0, what="timeout_client_data"),
        inspect_delay=v.integer(listener.timeout_tcp_inspect, 0, what="timeout_tcp_inspect"),
        allowed_cidrs=" ".join(v.network(c, "allowed_cidrs") for c in listener.allowed_cidrs),
        default_backend=None if default is None or service else v.uuid(default,
                                                                       "default_pool_id"),
        l7_lines=l7.frontend_lines(snapshot, listener.id, pool_ids)
        if mode == "http" and not service else [],
        log=LogView(target=log_target, format=_log_format(snapshot, mode))
        if log_target is not None and listener.connection_logging else None,
        service=service,
        bind_options=bind_options,
        hsts=hsts,
    )


def _log_format(snapshot: LoadBalancerSnapshot, mode: str) -> str:
    """Octavia's tenant flow log format for a listener (nslb.render.logformat)."""
    words = logformat.log_format_words(v.log_token_or_dash(snapshot.lb.project_id),
                                       v.uuid(snapshot.lb.id, "load balancer id"),
                                       http=mode == "http")
    return v.log_format(words)


def _backend_mode(pool: Pool, listener: Listener | None) -> str:
    if pool.protocol in PROXY_OPTION:
        return LISTENER_MODE[ListenerProtocol(listener.protocol)] if listener else "tcp"
    return POOL_MODE[PoolProtocol(pool.protocol)]


def _backend(snapshot: LoadBalancerSnapshot, pool: Pool, listener: Listener | None,
             ceiling: int, ping_command: str, peers: str | None = None,
             files: dict[str, str] | None = None, tls_base: str = "") -> BackendView:
    mode = _backend_mode(pool, listener)
    hm = _monitor(snapshot, pool)
    tls_options: list[str] = []
    if pool.tls_enabled:
        material = snapshot.pool_tls(pool.id)
        if material is None:
            raise v.UnsafeValue("pool TLS material")
        own = tls_render.pool_files(pool, material)
        if files is not None:
            files.update(own)
        tls_options = tls_render.server_options(pool, own, tls_base)
    timeouts = listener or DEFAULT_TIMEOUTS
    lines = _persistence_lines(pool, _vip_is_v6(snapshot), peers)
    if hm is not None:
        lines += healthchecks.backend_lines(hm, ping_command)
    if listener is not None and mode == "http":
        lines += _header_lines(listener)
    fullconn = frontend_maxconn(listener.connection_limit, ceiling) if listener else ceiling
    return BackendView(
        name=v.uuid(pool.id, "pool id"),
        mode=mode,
        balance=BALANCE.get(LbAlgorithm(pool.lb_algorithm), "roundrobin"),
        fullconn=v.integer(fullconn, 0, what="fullconn"),
        timeout_connect=v.integer(timeouts.timeout_member_connect, 0,
                                  what="timeout_member_connect"),
        timeout_server=v.integer(timeouts.timeout_member_data, 0, what="timeout_member_data"),
        lines=lines,
        servers=[_server(pool, m, hm, listener, tls_options)
                 for m in snapshot.members_of(pool.id)],
    )


def _vip_is_v6(snapshot: LoadBalancerSnapshot) -> bool:
    return ipaddress.ip_address(snapshot.lb.vip_address or snapshot.vip.address).version == 6


def _persistence_lines(pool: Pool, ipv6: bool, peers: str | None = None) -> list[str]:
    sp = pool.session_persistence or {}
    kind = sp.get("type")
    shared = f" peers {peers}" if peers else ""
    if kind == SessionPersistenceType.SOURCE_IP:
        table = "ipv6" if ipv6 else "ip"
        return [f"stick-table type {table} size {STICK_SIZE}{shared}", "stick on src"]
    if kind == SessionPersistenceType.APP_COOKIE and sp.get("cookie_name"):
        name = v.matching(sp["cookie_name"], "COOKIE_NAME", "cookie_name")
        return [f"stick-table type string len 64 size {STICK_SIZE}{shared}",
                f"stick store-response res.cook({name})", f"stick match req.cook({name})"]
    if kind == SessionPersistenceType.HTTP_COOKIE:
        return ["cookie SRV insert indirect nocache"]
    return []


def _wants(listener: Listener, header: str) -> bool:
    return str(listener.insert_headers.get(header, "false")).lower() == "true"


def _header_lines(listener: Listener) -> list[str]:
    lines = []
    if _wants(listener, "X-Forwarded-For"):
        lines.append("option forwardfor")
    if _wants(listener, "X-Forwarded-Port"):
        lines.append("http-request set-header X-Forwarded-Port %[dst_port]")
    if _wants(listener, "X-Forwarded-Proto"):
        if listener.protocol == ListenerProtocol.HTTP:
            lines.append("http-request set-header X-Forwarded-Proto http")
        elif listener.protocol == ListenerProtocol.TERMINATED_HTTPS:
            lines.append("http-request set-header X-Forwarded-Proto https")
    if listener.protocol == ListenerProtocol.TERMINATED_HTTPS:
        lines += [f"http-request set-header {header} {sample}"
                  for header, sample in SSL_HEADERS.items() if _wants(listener, header)]
    return lines


def _server(pool: Pool, member: Member, hm: HealthMonitor | None,
            listener: Listener | None = None, tls_options: list[str] | None = None
            ) -> ServerView:
    member_id = v.uuid(member.id, "member id")
    options = [f"weight {v.integer(member.weight, 0, 256, 'weight')}"]
    if hm is not None:
        options += healthchecks.server_check_options(hm, member.monitor_address,
                                                     member.monitor_port, pool)
    if (pool.session_persistence or {}).get("type") == SessionPersistenceType.HTTP_COOKIE:
        options.append(f"cookie {member_id}")
    if pool.protocol in PROXY_OPTION:
        terminated = listener is not None and \
            listener.protocol == ListenerProtocol.TERMINATED_HTTPS
        # Octavia passes the client certificate's CN along to members of a PROXYV2 pool
        # behind a TLS-terminating listener.
        options.append("send-proxy-v2-ssl-cn" if terminated and
                       pool.protocol == PoolProtocol.PROXYV2
                       else PROXY_OPTION[PoolProtocol(pool.protocol)])
    if member.backup:
        options.append("backup")
    if not member.admin_state_up:
        options.append("disabled")
    if pool.tls_enabled:
        options += tls_options or []
    return ServerView(name=member_id,
                      endpoint=v.endpoint(member.address, member.protocol_port, "member address"),
                      options=" ".join(options))
