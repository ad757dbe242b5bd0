"""Cumulative listener statistics.

HAProxy counters restart at zero whenever its process restarts; the health loop folds each
reading in with `record`, which carries totals across restarts so /stats never goes back.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nslb.db.tables import listener_statistics as t

COUNTERS = ("bytes_in", "bytes_out", "total_connections", "request_errors")


def _zero() -> dict[str, int]:
    return {k: 0 for k in (*COUNTERS, "active_connections")}


def for_listener(session: Session, listener_id: str) -> dict[str, int]:
    row = session.execute(select(t).where(t.c.listener_id == listener_id)).mappings().first()
    if row is None:
        return _zero()
    return {k: int(row[k]) for k in (*COUNTERS, "active_connections")}


def for_loadbalancer(session: Session, lb_id: str) -> dict[str, int]:
    totals = _zero()
    for row in session.execute(select(t).where(t.c.loadbalancer_id == lb_id)).mappings():
        for key in totals:
            totals[key] += int(row[key])
    return totals


def record(session: Session, lb_id: str, listener_id: str, raw: dict[str, int],
           process_start: float) -> None:
    """Fold one raw reading (since `process_start`) into the cumulative totals."""
    row = session.execute(select(t).where(t.c.listener_id == listener_id)).mappings().first()
    if row is None:
        session.execute(t.insert().values(
            listener_id=listener_id, loadbalancer_id=lb_id, process_start=process_start,
            raw=raw, active_connections=raw.get("active_connections", 0),
            **{k: raw.get(k, 0) for k in COUNTERS}))
        return
    restarted = process_start != row["process_start"]
    values: dict[str, object] = dict(fold({k: int(row[k]) for k in COUNTERS},
                                          None if restarted else row["raw"] or {}, raw))
    values["active_connections"] = raw.get("active_connections", 0)
    session.execute(t.update().where(t.c.listener_id == listener_id).values(
        raw=raw, process_start=process_start, **values))


def fold(totals: dict[str, int], previous: dict[str, int] | None, raw: dict[str, int],
         keys: tuple[str, ...] = COUNTERS) -> dict[str, int]:
    """The totals after one more reading `raw` of haproxy's counters; `previous` is the
    reading before it from the same process, None when the process restarted (its
    counters began again at zero, so all of `raw` is new)."""
    out = {}
    for key in keys:
        now = raw.get(key, 0)
        before = 0 if previous is None else int(previous.get(key, 0))
        # A counter that went backwards without a restart was reset too: count it whole.
        out[key] = totals.get(key, 0) + (now - before if now >= before else now)
    return out


def forget(session: Session, listener_ids: list[str]) -> None:
    if listener_ids:
        session.execute(t.delete().where(t.c.listener_id.in_(listener_ids)))
