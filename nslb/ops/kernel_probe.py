"""Which link types this kernel can really make, tried in a namespace nobody else sees.

A kernel's config says what was built, but not whether a module is present and loads, and
`/proc/config.gz` is often missing. So `nslb doctor` asks the kernel itself: a short-lived
thread unshares a fresh network namespace (no name, nothing under /run/netns), opens a
netlink socket there and ends; the namespace lives only as long as that socket. Creating
a VLAN-filtering bridge, a VXLAN and an 802.1q interface there changes nothing on the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gzip
import platform
import socket
import threading
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
# What each probe creates, and what "cannot" looks like.
UNSUPPORTED = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENODEV, errno.EPROTONOSUPPORT)
CONFIG_OPTIONS = ("CONFIG_BRIDGE_VLAN_FILTERING", "CONFIG_VXLAN", "CONFIG_VLAN_8021Q",
                  "CONFIG_IP_VS", "CONFIG_BRIDGE_NETFILTER", "CONFIG_VETH", "CONFIG_NET_NS")


def probe() -> dict[str, bool | None]:
    """bridge_vlan_filtering, vxlan, vlan_8021q: True/False as the kernel answered, None
    when no throwaway namespace could be made (not root)."""
    names = ("bridge_vlan_filtering", "vxlan", "vlan_8021q")
    sock = _private_netlink_socket()
    if sock is None:
        return dict.fromkeys(names)
    with IPRoute(use_socket=sock) as ipr:
        return {"bridge_vlan_filtering": _try(lambda: _vlan_filtering_bridge(ipr)),
                "vxlan": _try(lambda: ipr.link("add", ifname="dr-vx", kind="vxlan",
                                               vxlan_id=4242, vxlan_port=4789)),
                "vlan_8021q": _try(lambda: _vlan_interface(ipr))}


def ipvs_present(proc: Path = Path("/proc")) -> bool:
    """IPVS is built in or loaded: its table is in /proc/net."""
    return (proc / "net" / "ip_vs").exists()


def kernel_config(release: str | None = None) -> dict[str, str] | None:
    """The CONFIG_ options nslb cares about ("y", "m", or "n" for "is not set"), from
    /proc/config.gz or /boot/config-<release>; None when neither is readable."""
    release = release or platform.release()
    text = None
    with contextlib.suppress(OSError):
        text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode(errors="replace")
    if text is None:
        with contextlib.suppress(OSError):
            text = Path(f"/boot/config-{release}").read_text(errors="replace")
    return None if text is None else parse_config(text)


def parse_config(text: str) -> dict[str, str]:
    out = dict.fromkeys(CONFIG_OPTIONS, "n")
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in out:
            out[name] = value.strip()
    return out


def _vlan_filtering_bridge(ipr: IPRoute) -> None:
    ipr.link("add", ifname="dr-br", kind="bridge")
    index = ipr.link_lookup(ifname="dr-br")[0]
    ipr.link("set", index=index, kind="bridge", br_vlan_filtering=1)


def _vlan_interface(ipr: IPRoute) -> None:
    ipr.link("add", ifname="dr-v0", kind="veth", peer="dr-v1")
    index = ipr.link_lookup(ifname="dr-v0")[0]
    ipr.link("add", ifname="dr-v0.42", kind="vlan", link=index, vlan_id=42)


def _try(action: object) -> bool | None:
    try:
        if callable(action):
            action()
    except NetlinkError as exc:
        if exc.code in UNSUPPORTED:
            return False
        return None
    return True


def _private_netlink_socket() -> socket.socket | None:
    """A netlink socket in a new, unnamed network namespace; None when unshare is refused."""
    made: list[socket.socket] = []

    def unshare_and_open() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            return
        made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE))

    # The thread's namespace ends with the thread; only the socket keeps the new one alive.
    thread = threading.Thread(target=unshare_and_open, name="nslb-doctor-probe")
    thread.start()
    thread.join()
    return made[0] if made else None

