"""keepalived.conf of one amphora of an ACTIVE_STANDBY load balancer. Pure, like render/.

The pair elects the VIP holder with VRRP: unicast adverts between the two amphorae's own
addresses (`vrrp_ip`), only from the listed peer (`check_unicast_src`), VRRPv3 so adverts
can be sub-second (a takeover in well under a second), `nopreempt` and no `state` line so a
returning amphora never takes the VIP back. VRRPv3 has no authentication header (RFC 5798
dropped it); `check_unicast_src` plus unicast to a fixed peer is what keeps strangers out.
`higher_prio_send_advert`: should both amphorae ever be MASTER at once (a failover's two
new amphorae both hear the old holder resign), the one that yields sends an advert first,
which makes the winner send its GARPs again; else clients could keep the loser's MAC for
the VIP, where nothing answers. A check script gives the VIP up when haproxy stops
answering on its sockets. Every value
passes nslb.render.values, as in haproxy.cfg; keepalived runs as root, so this matters.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from nslb.model.bundle import HostFacts
from nslb.model.enums import AmphoraRole
from nslb.model.resources import VRRP_PRIORITY, Amphora
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.netns.names import ns_ifname
from nslb.render import values as v
from nslb.render.haproxy import TEMPLATES, amphora_dir


@dataclass(frozen=True)
class VrrpTimers:
    """Advert interval (seconds, VRRPv3 allows centiseconds) and the check's cadence."""

    advert_int: float = 0.1
    check_interval: int = 1
    check_timeout: int = 1
    check_fall: int = 2
    check_rise: int = 2
    # GARPs at once on becoming MASTER, again `garp_delay` s later: neighbours ignore an
    # update within `locktime` (1 s by default) of their last one, so under traffic the
    # first burst may not move their ARP entry; the second does.
    garp_repeat: int = 3
    garp_delay: int = 1
    garp_refresh: int = 5


@dataclass(frozen=True)
class VrrpView:
    amphora_id: str
    lb_id: str
    role: str
    router_id: str
    script_user: str
    check_command: str
    notify_command: str
    instance: str
    interface: str
    vrid: int
    priority: int
    advert_int: str
    vrrp_ip: str
    peers: tuple[str, ...]
    vip: str
    check_interval: int
    check_timeout: int
    check_fall: int
    check_rise: int
    garp_repeat: int
    garp_delay: int
    garp_refresh: int
    # The check of the UDP data path (an LB with UDP listeners), "" otherwise.
    udp_check: str = ""


def check_script_path(state_dir: Path | str) -> Path:
    """The check keepalived runs (installed by the amphora driver)."""
    return Path(state_dir) / "bin" / "nslb-vrrp-check"


def udp_check_script_path(state_dir: Path | str) -> Path:
    """keepalived's check of the UDP data path: the nft table is there and the UDP agent
    runs (as root, since nft needs CAP_NET_ADMIN)."""
    return Path(state_dir) / "bin" / "nslb-udp-check"


def notify_script_path(state_dir: Path | str) -> Path:
    """What keepalived runs on every VRRP transition: it records the new state."""
    return Path(state_dir) / "bin" / "nslb-vrrp-notify"


def build_view(snapshot: LoadBalancerSnapshot, amphora: Amphora, facts: HostFacts,
               timers: VrrpTimers = VrrpTimers(), udp: bool = False) -> VrrpView:
    """`udp`: the amphora serves UDP listeners, whose data path keepalived checks too."""
    lb = snapshot.lb
    role = AmphoraRole(v.word(amphora.role, set(VRRP_PRIORITY), "role"))
    peers = tuple(v.address(a.vrrp_ip, "peer vrrp_ip") for a in snapshot.amphorae
                  if a.id != amphora.id and a.vrrp_ip)
    if not peers:
        raise v.UnsafeValue("unicast peer (an ACTIVE_STANDBY amphora needs its peer)")
    directory = amphora_dir(facts.state_dir, v.uuid(amphora.id, "amphora id"))
    script = v.file_path(str(check_script_path(facts.state_dir)), "check script")
    sockets = " ".join(v.file_path(str(directory / name), "socket")
                       for name in ("stats.sock", "master.sock"))
    prefix = ipaddress.ip_network(snapshot.vip.subnet.cidr, strict=False).prefixlen
    vip = v.address(lb.vip_address or snapshot.vip.address, "VIP address")
    return VrrpView(
        amphora_id=amphora.id,
        lb_id=v.uuid(lb.id, "load balancer id"),
        role=role.value,
        router_id=amphora.id.replace("-", "")[:16],
        script_user=v.matching(facts.haproxy_user, "SYSTEM_NAME", "script user"),
        check_command=f"{script} {sockets}",
        notify_command=" ".join((
            v.file_path(str(notify_script_path(facts.state_dir)), "notify script"),
            v.file_path(str(directory / "vrrp.state"), "state file"))),
        instance=lb.id.replace("-", ""),
        interface=ns_ifname(v.uuid(amphora.vrrp_port_id, "vrrp_port_id")),
        vrid=v.integer(amphora.vrrp_id, 1, 255, "vrrp_id"),
        priority=v.integer(amphora.vrrp_priority or VRRP_PRIORITY[role], 1, 254,
                           "vrrp_priority"),
        advert_int=f"{timers.advert_int:.2f}",
        vrrp_ip=v.address(amphora.vrrp_ip, "vrrp_ip"),
        peers=peers,
        vip=f"{vip}/{v.integer(prefix, 0, 128, 'prefix')}",
        check_interval=timers.check_interval, check_timeout=timers.check_timeout,
        check_fall=timers.check_fall, check_rise=timers.check_rise,
        garp_repeat=timers.garp_repeat, garp_delay=timers.garp_delay,
        garp_refresh=timers.garp_refresh,
        udp_check=" ".join((
            v.file_path(str(udp_check_script_path(facts.state_dir)), "UDP check script"),
            v.file_path(str(directory / "udp-agent.pid"), "UDP agent pid file"))) if udp else "",
    )


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("keepalived.conf.j2")


def render_keepalived(snapshot: LoadBalancerSnapshot, amphora: Amphora, facts: HostFacts,
                      timers: VrrpTimers = VrrpTimers(), udp: bool = False) -> str:
    return _template().render(v=build_view(snapshot, amphora, facts, timers, udp))
