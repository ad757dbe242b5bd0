"""Create, delete and list network namespaces (bind mounts under /run/netns)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute, netns

NETNS_DIR = "/run/netns"


def namespace_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def ensure_namespace(name: str) -> bool:
    """Create the namespace with loopback up; True when it had to be created."""
    if namespace_exists(name):
        return False
    netns.create(name)
    with ns_route(name) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
    return True


def delete_namespace(name: str) -> None:
    """Remove the namespace; the kernel destroys its interfaces (and their veth peers)."""
    try:
        netns.remove(name)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise


def list_namespaces(prefix: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


@contextmanager
def ns_route(name: str) -> Iterator[IPRoute]:
    """An rtnetlink socket inside an existing namespace (never creates one by accident)."""
    ipr = IPRoute(netns=name, flags=0)
    try:
        yield ipr
    finally:
        ipr.close()


@contextmanager
def host_route() -> Iterator[IPRoute]:
    ipr = IPRoute()
    try:
        yield ipr
    finally:
        ipr.close()
