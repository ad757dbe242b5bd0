"""Host settings that many namespaces on one bridge need, and the per-namespace settings
of an LB namespace.

The kernel's neighbour (ARP/NDP) table is shared by every namespace on the host and holds
at most `gc_thresh3` entries (1024 by default). Each LB's health checks put an entry for
the LB in every backend's namespace and vice versa, so about 150-200 LBs fill it; after
that new neighbours fail with ENOBUFS and VIPs stop answering.

A broadcast (an ARP request) on a bridge is flooded to every port, and each copy a veth
receives is queued on the sending CPU's backlog, which holds `net.core.netdev_max_backlog`
packets (1000 by default). At about 1,000 ports one flood overflows it and the copies past
the limit are dropped: ARP from the LBs past #997 never reached their backends, which
answered 503 (2000 fixed it). A bridge has at most 1,023 ports, so 4096 leaves room for a
few floods at once.

Raise these, never lower them (an operator may have set more), and log what changed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from nslb.netns.hopper import run_inside

log = logging.getLogger(__name__)
NEIGH = {"gc_thresh1": 4096, "gc_thresh2": 16384, "gc_thresh3": 32768}
FAMILIES = ("ipv4", "ipv6")


# What one bridge's flood of ~1,000 ports needs (see above).
BACKLOG = {"core.netdev_max_backlog": 4096}


def raise_neighbour_limits(root: Path = Path("/proc/sys/net")) -> dict[str, int]:
    """Raise the neighbour-table thresholds to at least NEIGH; returns what changed."""
    wanted = {f"{family}.{name}": (f"{family}/neigh/default/{name}", value)
              for family in FAMILIES for name, value in NEIGH.items()}
    changed = _raise(root, wanted)
    if changed:
        log.info("raised neighbour table limits for many namespaces: %s", changed)
    return changed


def raise_host_limits(root: Path = Path("/proc/sys/net")) -> dict[str, int]:
    """Raise every host limit many LBs on one bridge need; returns what changed."""
    changed = raise_neighbour_limits(root)
    backlog = _raise(root, {name: (name.replace(".", "/"), value)
                            for name, value in BACKLOG.items()})
    if backlog:
        log.info("raised the receive backlog for floods on bridges of ~1,000 ports: %s",
                 backlog)
    return {**changed, **backlog}


def raise_unix_dgram_queue(value: int, root: Path = Path("/proc/sys/net")) -> dict[str, int]:
    """Raise how many datagrams a unix socket created from now on may queue (the kernel's
    default was 10 before Linux 6.9): haproxy sends its access logs without blocking, so
    a burst beyond the queue of the collector's socket would be dropped."""
    return _raise(root, {"net.unix.max_dgram_qlen": ("unix/max_dgram_qlen", value)})


def _raise(root: Path, wanted: dict[str, tuple[str, int]]) -> dict[str, int]:
    """Raise each setting (label -> path under `root`, value) to at least its value;
    returns label -> value of what changed."""
    changed: dict[str, int] = {}
    for label, (relative, value) in wanted.items():
        path = root / relative
        try:
            current = int(path.read_text().split()[0])
            if current < value:
                path.write_text(f"{value}\n")
                changed[label] = value
        except (OSError, ValueError) as exc:
            log.warning("cannot raise %s to %d: %s", path, value, exc)
    return changed


# Per-namespace settings every LB namespace gets before its haproxy starts. haproxy runs
# unprivileged, so ports below 1024 must be bindable without CAP_NET_BIND_SERVICE; the
# setting is per network namespace and changes nothing on the host.
NAMESPACE_SYSCTLS = {"net.ipv4.ip_unprivileged_port_start": "0"}
# ip_nonlocal_bind lets the standby of an ACTIVE_STANDBY pair bind the VIP it does not hold
# yet, so its haproxy is ready the moment keepalived moves the VIP in. (Only there: for a
# STANDALONE amphora a bind to an address it does not have must stay an error.)
PAIR_SYSCTLS = {"net.ipv4.ip_nonlocal_bind": "1", "net.ipv6.ip_nonlocal_bind": "1"}


def set_in_namespace(namespace: str, settings: dict[str, str] | None = None) -> None:
    """Apply sysctls inside `namespace` (idempotent). /proc/sys/net shows the namespace of
    the thread that opens it, so the files are written by nslb's namespace thread while
    it is inside (a `sysctl` process cost ~10 ms per new LB at 1,000 LBs). Raises OSError
    when the kernel refuses."""
    wanted = NAMESPACE_SYSCTLS if settings is None else settings
    paths = {Path("/proc/sys", *key.split(".")): value for key, value in wanted.items()}

    def write() -> None:
        for path, value in paths.items():
            path.write_text(f"{value}\n")

    try:
        run_inside(namespace, write)
    except OSError as exc:
        raise OSError(f"sysctl in {namespace} failed: {exc}") from exc
