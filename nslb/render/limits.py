"""Connection limits that haproxy can honour within the process' file descriptor limit.

HAProxy refuses to start ("Cannot raise FD limit") when maxconn needs more descriptors than
it may open: every proxied connection uses two (client side and server side), and listeners,
checks and the CLI need a few more. With `option splice-*` (as Octavia renders) haproxy also
reserves maxconn/4 pipes of two descriptors each, so the budget is 2.5 FDs per connection:
maxconn = (nofile - reserve) / 2.5 (haproxy computes maxconn * 2 + maxpipes * 2 + a few).
"""

from __future__ import annotations

FD_RESERVE = 256
MIN_MAXCONN = 16


def maxconn_for_fd_limit(fd_limit: int) -> int:
    """The largest global maxconn haproxy can start with under `fd_limit` open files."""
    return max(MIN_MAXCONN, (fd_limit - FD_RESERVE) * 2 // 5)


def global_maxconn(fd_limit: int, listener_limits: list[int]) -> int:
    """Octavia's rule (the sum of the listeners' limits, unlimited if any is -1), capped by FDs."""
    ceiling = maxconn_for_fd_limit(fd_limit)
    if not listener_limits or any(limit < 0 for limit in listener_limits):
        return ceiling
    total = sum(listener_limits)
    return min(total, ceiling) if total > 0 else ceiling


def frontend_maxconn(connection_limit: int, ceiling: int) -> int:
    """A listener's maxconn: its connection_limit (-1 = unlimited), never above the ceiling."""
    if connection_limit < 0:
        return ceiling
    return min(connection_limit, ceiling)
