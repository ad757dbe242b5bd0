"""Connection limits that haproxy can honour within the process' file descriptor limit.

HAProxy refuses to start or reload ("Cannot raise FD limit") when its descriptors do not fit
under the open-files limit. It needs two per proxied connection (client and server side),
two per pipe (with `option splice-*`, as Octavia renders, maxpipes = maxconn/4), one per
listening socket, one per health-checked server, and a few for the CLI and pollers. So the
connection budget is what is left after the fixed costs, at 2.5 descriptors per connection:

    maxconn = (nofile - FD_RESERVE - (listeners + checked servers, in steps of 256)) * 2 / 5

The fixed costs grow with the config (the probe found 240 checked servers breaking a
constant reserve of 256, F5), so they are counted from the rendered view. The API refuses
a change that would leave fewer than MIN_USEFUL_MAXCONN connections (`capacity`).
"""

from __future__ import annotations

FD_RESERVE = 256
MIN_MAXCONN = 16
MIN_USEFUL_MAXCONN = 1000
# Listeners and checked servers are budgeted in steps, so that adding or removing a member
# leaves maxconn (and so the rest of the config) unchanged and the member can be added or
# deleted through the runtime API instead of a reload.
FD_STEP = 256


def fixed_fds(listeners: int = 0, checked_servers: int = 0) -> int:
    """Descriptors haproxy holds whatever the traffic (rounded up to a whole step)."""
    variable = listeners + checked_servers
    return FD_RESERVE + -(-variable // FD_STEP) * FD_STEP


def maxconn_for_fd_limit(fd_limit: int, fixed: int = FD_RESERVE) -> int:
    """The largest global maxconn haproxy can start with under `fd_limit` open files."""
    return max(MIN_MAXCONN, (fd_limit - fixed) * 2 // 5)


def capacity(fd_limit: int) -> int:
    """How many listeners plus checked servers one LB may have and still keep at least
    MIN_USEFUL_MAXCONN connections within `fd_limit`."""
    return max(0, fd_limit - FD_RESERVE - FD_STEP - (MIN_USEFUL_MAXCONN * 5 + 1) // 2)


def global_maxconn(fd_limit: int, listener_limits: list[int], checked_servers: int = 0) -> int:
    """Octavia's rule (the sum of the listeners' limits, unlimited if any is -1), capped by FDs."""
    ceiling = maxconn_for_fd_limit(fd_limit, fixed_fds(len(listener_limits), checked_servers))
    if not listener_limits or any(limit < 0 for limit in listener_limits):
        return ceiling
    total = sum(listener_limits)
    return min(total, ceiling) if total > 0 else ceiling


def frontend_maxconn(connection_limit: int, ceiling: int) -> int:
    """A listener's maxconn: its connection_limit (-1 = unlimited), never above the ceiling."""
    if connection_limit < 0:
        return ceiling
    return min(connection_limit, ceiling)
