"""The API never blocks its event loop on the database (issue 8, part 1, item 4): while one
request waits for SQLite's writer lock, others are answered, before the lock is released."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx

from nslb.api.app import create_app
from nslb.config import Settings
from nslb.db.engine import Database

GIVE_UP = 10.0  # the holder releases the lock by itself after this, if nobody else does


async def _scenario(app: object, db: Database) -> tuple[bool, int, int, int]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://nslb",
                                 headers={"X-Project-Id": "p1"}) as client:
        held, release, still_held = threading.Event(), threading.Event(), threading.Event()

        def hold_writer_lock() -> None:
            with db.write():
                held.set()
                still_held.set()
                release.wait(GIVE_UP)
                still_held.clear()

        holder = threading.Thread(target=hold_writer_lock)
        holder.start()
        held.wait(5)
        write = asyncio.create_task(client.post("/networking/v2.0/networks",
                                                json={"network": {"name": "n"}}))
        await asyncio.sleep(0.1)  # the write now waits for the lock
        version = await client.get("/")
        listed = await client.get("/v2/lbaas/loadbalancers")
        answered_while_held = still_held.is_set() and not write.done()
        release.set()
        created = await write
        holder.join()
        return answered_while_held, version.status_code, listed.status_code, created.status_code


def test_reads_are_answered_while_a_write_waits_for_the_lock(tmp_path: Path,
                                                             db: Database) -> None:
    app = create_app(Settings(state_dir=tmp_path), db)
    answered_while_held, version, listed, created = asyncio.run(_scenario(app, db))
    assert (version, listed, created) == (200, 200, 201)
    assert answered_while_held, "a read waited for another request's database lock"
