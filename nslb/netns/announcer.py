"""Gratuitous ARPs sent from a thread of their own, after the apply that owed them.

A broadcast on a bridge of 1,000 ports is copied to every port inside the send() call
(the kernel floods it in the sender's context): 15-35 ms at 1,000 LBs, on a new LB's way
to ACTIVE although nothing there waits for it (clients ARP for a new address themselves;
the announcement updates the caches of those that knew the address at another MAC). So
the driver hands what it owes to this thread and goes on. A failed announcement is a
warning: the LB serves, and neighbours learn at their next ARP.
"""

from __future__ import annotations

import logging
import queue
import threading

from nslb.netns.ports import Announcement

log = logging.getLogger(__name__)


class Announcer:
    """`owe(items)` queues announcements; one daemon thread sends them in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Announcement] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def owe(self, items: list[Announcement]) -> None:
        if not items:
            return
        for item in items:
            self._queue.put(item)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="nslb-announce")
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                item.send()
            except OSError as exc:
                log.warning("%s: no gratuitous ARP for %s: %s", item.namespace,
                            item.address, exc)
            except Exception:  # keep the thread alive for the next one
                log.exception("gratuitous ARP for %s in %s failed", item.address,
                              item.namespace)
