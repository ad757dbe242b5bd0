"""Which of many processes have exited, asked once a second: one poll() over a pidfd each.

The health loop asks whether every amphora's haproxy master (and keepalived) still runs,
every round. At 1,000 amphorae a stat() of /proc/<pid> each was a thousand system calls
and Python calls a second; a pidfd (Linux 5.3) becomes readable when its process exits,
so one poll() with a zero timeout answers for all of them. A pidfd also names one process,
not a number the kernel may hand to another one later.

Used from one thread (the health loop's); where pidfd_open is missing (an old kernel),
every question falls back to /proc.

The pidfds live at descriptor numbers from 1024 up (nslb/fds.py says why).
"""

from __future__ import annotations

import os
import select

from nslb.fds import above_select_range


class Lifelines:
    """`refresh()` once per round, then `alive(pid)` for each process of interest."""

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}  # pid -> its pidfd
        self._pids: dict[int, int] = {}  # pidfd -> pid
        self._poll = select.poll()
        self._exited: set[int] = set()  # as of the last refresh
        self._supported = hasattr(os, "pidfd_open")

    def __len__(self) -> int:
        return len(self._fds)

    def refresh(self) -> None:
        """Learn which watched processes exited since the last refresh (one poll())."""
        self._exited = set()
        for fd, _ in self._poll.poll(0):
            pid = self._pids.pop(fd)
            del self._fds[pid]
            self._poll.unregister(fd)
            os.close(fd)
            self._exited.add(pid)

    def alive(self, pid: int) -> bool:
        """The process ran at the last refresh (or, seen for the first time, runs now)."""
        if pid in self._fds:
            return True
        if pid in self._exited or pid <= 0:
            return False
        if not self._supported:
            return os.path.exists(f"/proc/{pid}")
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        except OSError:  # no pidfd here (ENOSYS) or out of descriptors: ask /proc
            return os.path.exists(f"/proc/{pid}")
        fd = above_select_range(fd)
        self._fds[pid] = fd
        self._pids[fd] = pid
        self._poll.register(fd, select.POLLIN)
        return True

    def close(self) -> None:
        for fd in self._pids:
            os.close(fd)
        self._fds.clear()
        self._pids.clear()
        self._poll = select.poll()
