"""Other controllers' writes, heard as they commit (PostgreSQL LISTEN/NOTIFY).

Every write transaction on PostgreSQL ends with a NOTIFY on db/engine.py's CHANNEL
naming its writer. One thread per controller listens on a connection of its own: each
notification from another controller is counted into `Database.writes` (a periodic read
kept while nothing was written is read again) and rings the bells: the worker plans
again, the publisher looks at the outbox, the floating IP reconciler looks again. A change
made through another controller's API therefore reaches the unit's owner within
milliseconds, not at its next periodic look.

Notifications are a hint, never the truth: a connection that drops loses them, so every
(re)connect counts as a write (everything is read again), and the periodic reads go on
anyway (db/unchanged.py's max_age). SQLite has no other controllers: no thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from nslb.db.engine import CHANNEL, RESYNC_CHANNEL, Database

log = logging.getLogger(__name__)
RECONNECT = 1.0  # seconds between attempts while the database is unreachable


class ChangeFeed:
    def __init__(self, db: Database, bells: list[Callable[[], None]],
                 on_resync: Callable[[str], None] = lambda lb_id: None) -> None:
        """`on_resync(lb_id)`: another controller was asked to resync an LB (the admin
        API's amphora configure) and announced it on RESYNC_CHANNEL for its holder."""
        self.db = db
        self.bells = bells
        self.on_resync = on_resync
        self.heard = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.db.is_sqlite:
            return
        self._thread = threading.Thread(target=self._run, name="nslb-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3.0)

    def _ring(self) -> None:
        self.db.written_elsewhere()
        for bell in self.bells:
            try:
                bell()
            except Exception:  # a bell must not silence the feed
                log.exception("a change bell failed")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # the database restarted or is unreachable
                log.warning("listening for other controllers' writes failed (%s); "
                            "retrying", exc)
            self._stop.wait(RECONNECT)

    def _listen(self) -> None:
        import psycopg

        url = self.db.engine.url.set(drivername="postgresql")  # a libpq URI
        with psycopg.connect(url.render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {RESYNC_CHANNEL}")
            self._ring()  # anything may have changed while nobody listened
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    if note.channel == RESYNC_CHANNEL:
                        self.on_resync(note.payload)
                    elif note.payload != self.db.origin:
                        self.heard += 1
                        self._ring()
