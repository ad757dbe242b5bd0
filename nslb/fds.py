"""Descriptor numbers from FD_SETSIZE (1024) up for what `nslb serve` keeps open per amphora.

At 1,000 amphorae the serve keeps ~2,000 descriptors open for as long as they live (a pidfd
per haproxy master for the health loop, a connection per access log ring). Left where the
kernel puts them (the lowest free numbers), they take every number below 1024, and then a
C library in this process that select()s on a socket it just made gets a number select()
cannot take: glibc aborts the whole process (libnftables does this, netns/nftables.py).
So the long-lived ones are moved up, and the numbers below stay free for short-lived ones.
"""

from __future__ import annotations

import fcntl
import os
import socket

FD_SETSIZE = 1024


def above_select_range(fd: int) -> int:
    """`fd` moved to a number of at least FD_SETSIZE (close-on-exec); `fd` itself when
    the descriptor limit leaves no room up there."""
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_SETSIZE)
    except OSError:
        return fd
    os.close(fd)
    return high


def long_lived_socket(family: int, kind: int) -> socket.socket:
    """socket.socket(family, kind) at a number above the select() range."""
    sock = socket.socket(family, kind)
    fd = above_select_range(sock.detach())
    return socket.socket(family, kind, fileno=fd)
