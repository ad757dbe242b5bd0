"""The checks of `nslb doctor`: pure functions from the host's Readings to findings.

Each finding says what was found, why it matters for load balancers on this host, and the
command that fixes it. Severities: ok and info (nothing to do), warning (works, but
something will bite), error (load balancers cannot run or lose traffic).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nslb.netns.sysctl import BACKLOG, NEIGH
from nslb.ops.doctor_readings import FileFacts, Readings
from nslb.ops.findings import ERROR, INFO, OK, WARNING
from nslb.render.limits import MIN_USEFUL_MAXCONN, maxconn_for_fd_limit

MIN_HAPROXY = (2, 6)    # the configuration nslb renders is HAProxy 2.6's
MIN_KEEPALIVED = (2, 0)  # VRRPv3 over unicast with check_unicast_src
# Neighbour entries one amphora needs in the host-wide table: ~1024 entries were full at
# 150-200 LBs (nslb/netns/sysctl.py), so 6 to 7 each; counted as 8 for headroom.
NEIGH_PER_AMPHORA = 8
# Free memory, in LBs that still fit, below which doctor warns and errs.
ROOM_WARNING, ROOM_ERROR = 100, 10
FILE_NR_WARNING = 0.8   # share of fs.file-max in use
STATE_DIR_MAX = 45      # haproxy's unix socket paths (nslb/amphora/namespace.py)
FREE_DISK_WARNING = 200 * 1024 * 1024
PERSIST = "/etc/sysctl.d/90-nslb.conf"


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str   # findings.OK, INFO, WARNING or ERROR
    summary: str    # what was found
    why: str = ""   # why it matters (empty for ok)
    fix: str = ""   # the command that fixes it (empty when there is nothing to do)


Check = Callable[[Readings], list[Finding]]


def version_of(text: str | None, pattern: str) -> tuple[int, ...] | None:
    match = re.search(pattern, text or "")
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _sysctl_fix(settings: Mapping[str, object]) -> str:
    """Set now, and for the next boot."""
    pairs = " ".join(f"{k}={v}" for k, v in settings.items())
    lines = "\\n".join(f"{k} = {v}" for k, v in settings.items())
    return f"sysctl -w {pairs} && printf '{lines}\\n' >> {PERSIST}"


# --- software -------------------------------------------------------------------------------


def haproxy(r: Readings) -> list[Finding]:
    if r.haproxy_vv is None:
        return [Finding("haproxy", ERROR, "haproxy is not installed",
                        "every amphora is a haproxy: no load balancer can be built",
                        "apt-get install haproxy")]
    version = version_of(r.haproxy_vv, r"HAProxy version (\d+\.\d+(?:\.\d+)?)")
    text = ".".join(map(str, version)) if version else "unknown"
    out = []
    if version is None or version[:2] < MIN_HAPROXY:
        out.append(Finding("haproxy", ERROR, f"haproxy {text} is older than 2.6",
                           "nslb renders HAProxy 2.6 configuration (dynamic servers, "
                           "idle-close-on-response); an older haproxy refuses it",
                           "apt-get install haproxy (Debian 12 ships 2.6)"))
    else:
        out.append(Finding("haproxy", OK, f"haproxy {text}"))
    features = set(re.findall(r"\+([A-Z0-9_]+)", _feature_line(r.haproxy_vv)))
    wanted = {
        "PCRE2": ("L7 rules with compare_type REGEX are checked with PCRE2 at the API; a "
                  "haproxy without it matches them with another regex dialect"),
        "OPENSSL": ("HTTPS and TLS-HELLO health monitors and TLS listeners need haproxy "
                    "built with OpenSSL"),
        "PROMEX": ("PROMETHEUS listeners are served by haproxy's built-in Prometheus "
                   "exporter"),
    }
    for name, why in wanted.items():
        if name in features:
            out.append(Finding(f"haproxy.{name.lower()}", OK, f"haproxy has {name}"))
        else:
            out.append(Finding(f"haproxy.{name.lower()}", WARNING,
                               f"haproxy was built without {name}", why,
                               "install a haproxy built with it: apt-get install haproxy "
                               "(Debian's package has PCRE2, OpenSSL and PROMEX)"))
    built = re.search(r"Built with OpenSSL version : OpenSSL (\d+)", r.haproxy_vv)
    running = re.search(r"Running on OpenSSL version : OpenSSL (\d+)", r.haproxy_vv)
    if built and running and built.group(1) != running.group(1):
        out.append(Finding("haproxy.openssl_abi", WARNING,
                           f"haproxy was built with OpenSSL {built.group(1)} but runs on "
                           f"{running.group(1)}",
                           "a major OpenSSL mismatch makes TLS fail in odd ways",
                           "apt-get install --reinstall haproxy libssl3"))
    return out


def _feature_line(vv: str) -> str:
    return next((line for line in vv.splitlines() if line.startswith("Feature list")), "")


def keepalived(r: Readings) -> list[Finding]:
    if r.keepalived_version is None:
        return [Finding("keepalived", WARNING, "keepalived is not installed",
                        "ACTIVE_STANDBY load balancers need keepalived for VRRP; they go to "
                        "ERROR, SINGLE ones work", "apt-get install keepalived")]
    version = version_of(r.keepalived_version, r"Keepalived v(\d+\.\d+(?:\.\d+)?)")
    text = ".".join(map(str, version)) if version else "unknown"
    if version is None or version[:2] < MIN_KEEPALIVED:
        return [Finding("keepalived", WARNING, f"keepalived {text} is older than 2.0",
                        "nslb's VRRP configuration (VRRPv3 by unicast, check_unicast_src) "
                        "needs keepalived 2.0 or later", "apt-get install keepalived")]
    options = re.search(r"Config options:\s*(.*)", r.keepalived_version)
    if options and "VRRP" not in options.group(1).split():
        return [Finding("keepalived", WARNING, f"keepalived {text} was built without VRRP",
                        "ACTIVE_STANDBY pairs elect the VIP holder with VRRP",
                        "apt-get install keepalived")]
    return [Finding("keepalived", OK, f"keepalived {text}")]


def nftables(r: Readings) -> list[Finding]:
    version = version_of(r.nft_version, r"nftables v(\d+\.\d+(?:\.\d+)?)")
    if r.nft_version is None:
        return [Finding("nft", WARNING, "nft is not installed",
                        "floating IPs are NATed to their VIPs with nftables rules in a router "
                        "namespace; without nft they stay DOWN, and an ACTIVE_STANDBY VIP has "
                        "no gate (new connections are refused while a dead haproxy's amphora "
                        "holds it, and a failover breaks the requests in flight)",
                        "apt-get install nftables")]
    return [Finding("nft", OK, f"nft {'.'.join(map(str, version)) if version else 'found'}")]


def tools(r: Readings) -> list[Finding]:
    out = []
    needs = {"ip": (ERROR, "haproxy and keepalived are started with `ip netns exec`",
                    "apt-get install iproute2"),
             "setpriv": (ERROR, "haproxy is started as its unprivileged account with "
                         "setpriv; nslb never runs haproxy as root", "apt-get install util-linux"),
             "socat": (WARNING, "the VRRP check script asks haproxy over its socket with "
                       "socat: without it every ACTIVE_STANDBY amphora is FAULT",
                       "apt-get install socat")}
    for name, (level, why, fix) in needs.items():
        if not r.tools.get(name):
            out.append(Finding(f"tool.{name}", level, f"{name} is not on PATH", why, fix))
    return out or [Finding("tools", OK, "ip, setpriv and socat are installed")]


# --- the kernel -----------------------------------------------------------------------------


def _kernel_has(r: Readings, probe: str, option: str) -> bool | None:
    """The probe's answer; the kernel config's when the probe could not run."""
    found = r.link_kinds.get(probe)
    if found is not None:
        return found
    if r.kernel_config is not None:
        return r.kernel_config.get(option, "n") in ("y", "m")
    return None


def kernel(r: Readings) -> list[Finding]:
    out = []
    vlan_filtering = _kernel_has(r, "bridge_vlan_filtering", "CONFIG_BRIDGE_VLAN_FILTERING")
    if vlan_filtering is False:
        out.append(Finding(
            "kernel.vlan_filtering", WARNING,
            f"kernel {r.kernel_release} has no bridge VLAN filtering",
            "VLAN networks fall back to one bridge per segment (nsb<hash>v<vid>): isolated "
            "on this host, but their frames never leave it tagged, so VLAN members on other "
            "hosts are unreachable",
            "boot a kernel with CONFIG_BRIDGE_VLAN_FILTERING=y (Debian's stock kernel has "
            "it): apt-get install linux-image-amd64 && reboot"))
    elif vlan_filtering:
        out.append(Finding("kernel.vlan_filtering", OK, "bridge VLAN filtering works"))
    dot1q = _kernel_has(r, "vlan_8021q", "CONFIG_VLAN_8021Q")
    if dot1q is False:
        out.append(Finding(
            "kernel.8021q", INFO, "the kernel cannot make 802.1q VLAN interfaces",
            "a physnet bridge cannot be given a VLAN sub-interface of a NIC as its uplink; "
            "flat networks on a NIC or VXLAN uplink are unaffected",
            "modprobe 8021q (or a kernel with CONFIG_VLAN_8021Q)"))
    elif dot1q:
        out.append(Finding("kernel.8021q", OK, "802.1q VLAN interfaces work"))
    vxlan = _kernel_has(r, "vxlan", "CONFIG_VXLAN")
    if vxlan is False:
        out.append(Finding(
            "kernel.vxlan", INFO, "the kernel cannot make VXLAN interfaces",
            "a flat network cannot be stretched to other hosts with a VXLAN uplink on its "
            "bridge (nslb itself creates none)", "modprobe vxlan (or CONFIG_VXLAN)"))
    elif vxlan:
        out.append(Finding("kernel.vxlan", OK, "VXLAN interfaces work"))
    if None in (vlan_filtering, dot1q, vxlan):
        out.append(Finding("kernel.probe", INFO, "some kernel features could not be tried "
                           "(not root) and the kernel config is not readable", "",
                           "run nslb doctor as root"))
    out.append(_ipvs(r))
    return out


def _ipvs(r: Readings) -> Finding:
    if r.ipvs:
        return Finding("kernel.ipvs", OK, "IPVS is available")
    return Finding(
        "kernel.ipvs", INFO, "IPVS (LVS) is not in this kernel",
        "nslb does not need it: haproxy balances TCP and HTTP in user space. Octavia's "
        "amphora serves UDP listeners with keepalived's LVS (IPVS); on this host a UDP "
        "listener needs another engine",
        "modprobe ip_vs (or a kernel with CONFIG_IP_VS), only if UDP by LVS is wanted")


# --- sysctls --------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    try:
        return int((value or "").split()[0])
    except (ValueError, IndexError):
        return None


def ip_forward(r: Readings) -> list[Finding]:
    value = _int(r.sysctls.get("net.ipv4.ip_forward"))
    routed = {b: a for b, a in r.physnet_bridges.items() if a}
    if value == 1:
        return [Finding("sysctl.ip_forward", OK, "net.ipv4.ip_forward = 1")]
    if routed:
        names = ", ".join(f"{b} ({', '.join(a)})" for b, a in routed.items())
        return [Finding("sysctl.ip_forward", WARNING,
                        f"net.ipv4.ip_forward = {value}, and physnet bridges have host "
                        f"addresses: {names}",
                        "a bridge with a host address suggests this host routes clients to "
                        "the VIP subnet; without forwarding those packets are dropped",
                        _sysctl_fix({"net.ipv4.ip_forward": 1}))]
    return [Finding("sysctl.ip_forward", OK, f"net.ipv4.ip_forward = {value}: fine, the "
                    "data path is bridged (enable it only if this host routes between its "
                    "uplink and a physnet bridge)")]


def rp_filter(r: Readings) -> list[Finding]:
    values = {k: _int(r.sysctls.get(f"net.ipv4.conf.{k}.rp_filter")) for k in ("all", "default")}
    strict = [k for k, v in values.items() if v == 1]
    if not strict:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        return [Finding("sysctl.rp_filter", OK, f"rp_filter {shown} (not strict)")]
    return [Finding(
        "sysctl.rp_filter", WARNING,
        f"strict reverse-path filtering: rp_filter {', '.join(f'{k}=1' for k in strict)}",
        "strict mode drops a packet that arrives on another interface than the one its "
        "reply would leave by: an LB with member ports on other subnets, a floating IP "
        "router, and any asymmetric path lose traffic silently. New namespaces copy these "
        "IPv4 settings from the host, so every amphora created from now on is strict too",
        _sysctl_fix({"net.ipv4.conf.all.rp_filter": 2, "net.ipv4.conf.default.rp_filter": 2})
        + "  (2 = loose mode)")]


def bridge_netfilter(r: Readings) -> list[Finding]:
    names = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
             "net.bridge.bridge-nf-call-arptables")
    on = [n for n in names if _int(r.sysctls.get(n)) == 1]
    if not on:
        return [Finding("sysctl.bridge_nf", OK, "bridged traffic does not pass the host's "
                        "iptables (br_netfilter off or not loaded)")]
    return [Finding(
        "sysctl.bridge_nf", WARNING, f"{', '.join(n.split('.')[-1] for n in on)} = 1",
        "frames bridged between amphorae, members and the uplink pass the host's iptables "
        "FORWARD chain: a DROP policy (Docker sets one) or a full conntrack table silently "
        "drops VIP traffic that never leaves the bridge",
        _sysctl_fix(dict.fromkeys(on, 0))
        + "  (or allow it: iptables -I FORWARD -m physdev --physdev-is-bridged -j ACCEPT)")]


def neighbours(r: Readings) -> list[Finding]:
    out = []
    needed = NEIGH_PER_AMPHORA * r.amphorae
    for family in ("ipv4", "ipv6"):
        key = f"net.{family}.neigh.default.gc_thresh3"
        value = _int(r.sysctls.get(key))
        if value is None:
            out.append(Finding(f"sysctl.neigh.{family}", INFO, f"{key} is not readable here "
                               "(only the host's first namespace has it)"))
            continue
        wanted = {f"net.{family}.neigh.default.{n}": v for n, v in NEIGH.items()}
        if value < needed:
            out.append(Finding(
                f"sysctl.neigh.{family}", ERROR,
                f"{key} = {value}, but {r.amphorae} amphorae need about {needed} entries",
                "the neighbour table is shared by every namespace on the host; when it is "
                "full, new neighbours fail (ENOBUFS) and VIPs stop answering",
                _sysctl_fix(wanted)))
        elif value < NEIGH["gc_thresh3"]:
            out.append(Finding(
                f"sysctl.neigh.{family}", WARNING,
                f"{key} = {value}, below the {NEIGH['gc_thresh3']} nslb serve sets",
                "enough for today's amphorae, but about 150 LBs fill the kernel's default "
                "table; nslb serve raises it when it starts, so something lowered it since "
                "or serve has not run on this host yet", _sysctl_fix(wanted)))
        else:
            out.append(Finding(f"sysctl.neigh.{family}", OK, f"{key} = {value} (room for "
                               f"about {value // NEIGH_PER_AMPHORA} amphorae)"))
    for name, target in BACKLOG.items():
        value = _int(r.sysctls.get(f"net.{name}"))
        if value is not None and value < target:
            out.append(Finding(
                "sysctl.netdev_max_backlog", WARNING, f"net.{name} = {value}",
                "an ARP broadcast on a bridge of ~1,000 ports queues one copy per port; "
                "past the backlog they are dropped and far LBs cannot reach their members",
                _sysctl_fix({f"net.{name}": target})))
    return out


# --- resources ------------------------------------------------------------------------------


def file_descriptors(r: Readings) -> list[Finding]:
    soft, hard = r.nofile
    maxconn = maxconn_for_fd_limit(hard)
    out = []
    if maxconn < MIN_USEFUL_MAXCONN:
        out.append(Finding(
            "limits.nofile", ERROR, f"open files limit {hard}: haproxy could hold only "
            f"{maxconn} connections per LB",
            "each haproxy inherits nslb serve's limit and needs 2.5 descriptors per "
            "connection; the API refuses listeners it cannot hold",
            "ulimit -n 1048576 in the shell that starts nslb serve, or LimitNOFILE=1048576 "
            "in its systemd unit"))
    else:
        out.append(Finding("limits.nofile", OK, f"open files limit {soft}/{hard} (soft/hard): "
                           f"up to {maxconn} connections per LB"))
    if r.file_nr is not None:
        allocated, maximum = r.file_nr
        if maximum and allocated > FILE_NR_WARNING * maximum:
            out.append(Finding(
                "limits.file_max", WARNING, f"{allocated} of fs.file-max {maximum} file "
                "handles are in use", "when the host runs out, haproxy refuses connections "
                "and reloads fail", _sysctl_fix({"fs.file-max": maximum * 4})))
        else:
            out.append(Finding("limits.file_max", OK,
                               f"{allocated} of {maximum} file handles in use"))
    return out


def memory(r: Readings) -> list[Finding]:
    if r.mem_available_kb is None:
        return [Finding("memory", INFO, "MemAvailable is not readable")]
    available_mb = r.mem_available_kb / 1024
    room = int(available_mb / r.pss_per_lb_mb)
    summary = (f"{available_mb:.0f} MB available: room for about {room} more LBs at "
               f"{r.pss_per_lb_mb:g} MB PSS each ({r.pss_source}; an ACTIVE_STANDBY LB costs "
               f"twice); {r.amphorae} amphorae run now")
    why = ("each LB's haproxy (and keepalived) needs memory of its own; an out-of-memory kill "
           "of a haproxy takes its VIP down until the health loop restarts it")
    if room < ROOM_ERROR:
        return [Finding("memory", ERROR, summary, why,
                        "free memory or move load balancers to another host")]
    if room < ROOM_WARNING:
        return [Finding("memory", WARNING, summary, why,
                        "free memory before adding many more load balancers")]
    return [Finding("memory", OK, summary)]


def clock(r: Readings) -> list[Finding]:
    c = r.clock
    if c.synchronized is None:
        return [Finding("clock", INFO, f"clock synchronisation unknown ({c.detail})")]
    if c.synchronized:
        return [Finding("clock", OK, f"clock synchronised ({c.detail})")]
    return [Finding(
        "clock", WARNING, f"the clock is not synchronised ({c.detail})",
        "identity tokens carry their issue and expiry times, so another host with a "
        "different clock rejects them or accepts expired ones; logs and events of several "
        "hosts no longer line up, and TLS certificates may look not yet valid",
        "apt-get install chrony && systemctl enable --now chrony (or timedatectl "
        "set-ntp true)")]


def state_dir(r: Readings) -> list[Finding]:
    s = r.state_dir
    if len(s.path) > STATE_DIR_MAX:
        return [Finding("state_dir", ERROR, f"{s.path} is {len(s.path)} characters long",
                        "haproxy's unix socket paths under it would exceed 108 bytes; nslb "
                        f"serve refuses a state dir over {STATE_DIR_MAX} characters",
                        "nslb serve --state-dir /var/lib/nslb (or another short path)")]
    if not s.exists:
        return [Finding("state_dir", INFO, f"{s.path} does not exist yet; nslb serve creates "
                        "it on first start")]
    out = []
    if s.facts.uid not in (0, None) or (s.facts.mode or 0) & 0o022:
        out.append(Finding("state_dir", ERROR, f"{s.path} is {_mode(s.facts)} owned by uid "
                           f"{s.facts.uid}",
                           "whoever can write there can replace haproxy configs or keys",
                           f"chown root:root {s.path} && chmod 0755 {s.path}"))
    secrets = {"nslb.db": 0o600, "clouds.yaml": 0o600, "fernet-keys": 0o700,
               "secret-keys": 0o700}
    for name, wanted in secrets.items():
        facts = s.files.get(name)
        if facts is None or not facts.exists or facts.mode is None:
            continue
        if facts.mode & 0o077:
            out.append(Finding(
                f"state_dir.{name}", ERROR, f"{s.path}/{name} is {_mode(facts)}",
                "it holds password hashes, signing or encryption keys or the admin password; "
                "haproxy's account (and any local user) must not read it",
                f"chmod {wanted:04o} {s.path}/{name}"))
    if s.amphora_dirs_wrong:
        shown = ", ".join(s.amphora_dirs_wrong[:3])
        out.append(Finding(
            "state_dir.amp", WARNING, f"{len(s.amphora_dirs_wrong)} of {s.amphora_dirs} "
            f"amphora directories are not the haproxy account's 0700 ({shown})",
            "haproxy writes its pid file and sockets there and nobody else should read "
            "them; nslb serve puts this right on the amphora's next full apply",
            f"chown haproxy:haproxy {s.path}/amp/<id> && chmod 0700 {s.path}/amp/<id>"))
    if s.free_bytes is not None and s.free_bytes < FREE_DISK_WARNING:
        out.append(Finding(
            "state_dir.disk", WARNING, f"{s.free_bytes // 2**20} MB free under {s.path}",
            "the database and every config write need room; a full disk fails applies",
            f"free space on the file system of {s.path}"))
    return out or [Finding("state_dir", OK, f"{s.path}: owner and modes are right")]


def _mode(facts: FileFacts) -> str:
    return f"mode {facts.mode:04o}" if facts.mode is not None else "unknown mode"


def haproxy_account(r: Readings) -> list[Finding]:
    a = r.haproxy_account
    if not a.exists:
        return [Finding("haproxy_account", ERROR, f"there is no {a.name!r} account",
                        "haproxy parses its config before it could drop privileges, so nslb "
                        "starts it as this unprivileged account and refuses to run without it",
                        f"apt-get install haproxy (creates it), or useradd --system "
                        f"--no-create-home --shell /usr/sbin/nologin {a.name}")]
    if a.uid == 0:
        return [Finding("haproxy_account", ERROR, f"the {a.name!r} account has uid 0",
                        "haproxy would run as root: a config directive could read nslb's "
                        "database and keys", f"usermod -u <a free system uid> {a.name}")]
    if a.shell and not a.shell.endswith(("nologin", "false")):
        return [Finding("haproxy_account", WARNING, f"{a.name!r} has the login shell "
                        f"{a.shell}", "a service account should not be able to log in",
                        f"usermod -s /usr/sbin/nologin {a.name}")]
    return [Finding("haproxy_account", OK, f"{a.name!r} account, uid {a.uid}")]


CHECKS: tuple[Check, ...] = (haproxy, keepalived, nftables, tools, kernel, ip_forward,
                             rp_filter, bridge_netfilter, neighbours, file_descriptors,
                             memory, clock, state_dir, haproxy_account)


def run(readings: Readings) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(readings)]
