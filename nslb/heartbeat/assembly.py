"""The controller's heartbeat parts, from the settings (used by nslb/service.py).

Off by default: without `heartbeat_listen` nothing listens and every amphora is observed
through the driver, as in the embedded single-host service. With it, the receiver
listens, the health loop judges amphorae that have an amphora_health row by their
heartbeats, and, when the driver's amphorae live on other hosts (the agents' driver,
named "remote") or `heartbeat_amphorae` is "all", every amphora
created from then on gets its row.
"""

from __future__ import annotations

from pathlib import Path

from nslb.amphora.base import AmphoraDriver
from nslb.config import ConfigError, Settings
from nslb.db.engine import Database
from nslb.health.heartbeats import HeartbeatWatch
from nslb.heartbeat.keys import ensure_key
from nslb.heartbeat.receiver import HeartbeatMetrics, Receiver
from nslb.heartbeat.store import HeartbeatStore
from nslb.heartbeat.watch import watch_new_amphorae
from nslb.metrics.registry import Metrics


def key_file(settings: Settings) -> Path:
    return Path(settings.heartbeat_key_file or settings.state_dir / "heartbeat.key")


def build(settings: Settings, db: Database, driver: AmphoraDriver,
          metrics: Metrics) -> tuple[Receiver | None, HeartbeatWatch | None]:
    # the series exist (at 0) with heartbeats off too: dashboards and alerts find them
    heartbeat_metrics = HeartbeatMetrics(metrics.registry)
    if not settings.heartbeat_listen:
        return None, None
    try:
        key = ensure_key(key_file(settings))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"heartbeat key: {exc}") from exc
    store = HeartbeatStore(db)
    receiver = Receiver(settings.heartbeat_listen, key, store,
                        window=settings.heartbeat_window,
                        metrics=heartbeat_metrics)
    if settings.heartbeat_amphorae == "all" or driver.name == "remote":
        watch_new_amphorae(db)
    return receiver, HeartbeatWatch(db, store, timeout=settings.heartbeat_timeout)
