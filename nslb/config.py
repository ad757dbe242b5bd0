"""Service settings: defaults, then a TOML file, then NSLB_* environment, then flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nslb.metrics.server import parse_listen

DEFAULT_STATE_DIR = Path("/var/lib/nslb")
# Networks name a physical network; by default it is a bridge nslb creates on first use.
DEFAULT_PHYSNET = "physnet1:nslb-br0"


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the setting."""


@dataclass
class Settings:
    bind: str = "127.0.0.1:9876"
    state_dir: Path = DEFAULT_STATE_DIR
    db: str = ""
    amphora_driver: str = "namespace"
    topology: str = "SINGLE"
    physnet: list[str] = field(default_factory=lambda: [DEFAULT_PHYSNET])
    auth: str = "keystone"
    log_level: str = "INFO"
    public_url: str = ""
    resync_interval: float = 10.0
    health_interval: float = 1.0
    # Automatic failover of an amphora that repair in place cannot fix: after this many
    # seconds unhealthy (0: never); above `failover_threshold` stale amphorae at once (0: no
    # threshold) they are left alone as FAILOVER_STOPPED; at most
    # `failover_max_concurrent` failovers at a time.
    failover_timeout: float = 30.0
    failover_threshold: int = 0
    failover_max_concurrent: int = 2
    # The HTTP API facing untrusted clients (probe F7, F8): request bodies above this are
    # a 413 before they are read; a request head must arrive within header_timeout and
    # its body within body_timeout; idle keep-alive connections close after
    # keepalive_timeout; connections beyond max_connections are closed at once (never
    # more than half of the process's file descriptors, see nslb/api/server.py).
    max_body_bytes: int = 1024 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keepalive_timeout: float = 5.0
    max_connections: int = 4096
    # Access logs of the listeners with connection_logging (nslb.accesslog): "file" writes
    # <state-dir>/logs/<lb_id>.log, rotated past access_log_max_bytes with
    # access_log_backups old files kept; "syslog" sends them to /dev/log; "off" renders
    # no logging at all.
    access_log: str = "file"
    access_log_max_bytes: int = 50 * 1024 * 1024
    access_log_backups: int = 5
    # Prometheus metrics (nslb/metrics/server.py): HOST:PORT of their own listener, apart
    # from the API; "" turns metrics (and the API's request middleware) off.
    metrics_listen: str = "127.0.0.1:9102"
    # Notifications (nslb/events): kafka://HOST:PORT[,HOST:PORT...]/TOPIC, or "" to keep
    # them only in the outbox (for `recent()`); at most `events_backlog` undelivered
    # events are kept (the oldest dropped beyond), delivered ones for `events_retention` s.
    notify: str = ""
    events_backlog: int = 100_000
    events_retention: float = 3600.0
    # Many hosts (nslb/pki, nslb/agent): "local" drives amphorae on this host in-process;
    # "remote" drives them through `nslb agent` on other hosts over mutual TLS, and serves
    # agents' joins and renewals on `agent_listen` (HTTPS, the controller's own CA).
    agents: str = "local"
    agent_listen: str = "0.0.0.0:9444"
    # With remote agents, the scheduler's weighers (nslb/placement/weighers.py):
    # NAME=MULTIPLIER,... of least_loaded, free_memory, free_connections.
    placement_weighers: str = "least_loaded=1"
    # Several controllers on one PostgreSQL database (nslb/db/leases.py): this one's id
    # ("" = <hostname>:<pid>) and how long a unit of work stays claimed by a controller
    # that stopped renewing (killed, cut off) before another takes it over.
    controller_id: str = ""
    lease_ttl: float = 10.0
    # Heartbeats of amphorae on other hosts (nslb/heartbeat): HOST:PORT of the UDP
    # listener ("" off, the embedded default); the shared key's file (default
    # <state-dir>/heartbeat.key, made 0600 on first start); an amphora silent for
    # heartbeat_timeout seconds is failed over; heartbeats made more than heartbeat_window
    # seconds from the receiver's clock are refused. heartbeat_amphorae: which new
    # amphorae are watched through heartbeats: "remote" (those of a driver whose amphorae
    # live on other hosts) or "all" (every one: a single host whose amphorae are reported
    # by `nslb heartbeat send`, to try or test a health manager).
    heartbeat_listen: str = ""
    heartbeat_amphorae: str = "remote"
    heartbeat_key_file: str = ""
    heartbeat_timeout: float = 10.0
    heartbeat_window: float = 10.0
    # VXLAN networks (networks that span hosts): VNIs given to networks created without
    # provider:segmentation_id (Neutron's vni_ranges, MIN:MAX), the underlay's MTU (a
    # VXLAN network's mtu is 50 less) and this host's underlay address, where the
    # in-process data plane's tunnels end ("" = no VXLAN ports on this host).
    vxlan_vni_range: str = "1000:1999"
    underlay_mtu: int = 1500
    underlay_address: str = ""

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.state_dir / 'nslb.db'}"

    @property
    def host(self) -> str:
        return self.bind.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.bind.rsplit(":", 1)[1])

    @property
    def physnets(self) -> dict[str, str]:
        """physnet name -> bridge name, from NAME:BRIDGE entries."""
        out: dict[str, str] = {}
        for entry in self.physnet:
            name, sep, bridge = entry.partition(":")
            if not sep or not name or not bridge or len(bridge) > 15:
                raise ConfigError(f"--physnet must be NAME:BRIDGE (bridge <= 15 chars): {entry!r}")
            out[name] = bridge
        return out

    def validate(self) -> None:
        if self.amphora_driver not in ("noop", "namespace"):
            raise ConfigError(f"unknown amphora driver {self.amphora_driver!r}")
        if self.topology not in ("SINGLE", "ACTIVE_STANDBY"):
            raise ConfigError(f"unknown topology {self.topology!r}: SINGLE or ACTIVE_STANDBY")
        if self.auth not in ("noauth", "keystone"):
            raise ConfigError(f"unknown auth strategy {self.auth!r}: noauth or keystone")
        try:
            self.port  # noqa: B018 - parse check
        except (IndexError, ValueError):
            raise ConfigError(f"--bind must be HOST:PORT, got {self.bind!r}") from None
        _ = self.physnets
        if self.access_log not in ("file", "syslog", "off"):
            raise ConfigError(f"unknown access log target {self.access_log!r}: file, syslog "
                              "or off")
        if self.access_log_backups < 0:
            raise ConfigError("access_log_backups must be 0 or more")
        try:
            parse_listen(self.metrics_listen)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if self.notify:
            from nslb.events.target import BadNotifyUrl, parse

            try:
                parse(self.notify)
            except BadNotifyUrl as exc:
                raise ConfigError(str(exc)) from None
        if self.agents not in ("local", "remote"):
            raise ConfigError(f"unknown agents mode {self.agents!r}: local or remote")
        try:
            if parse_listen(self.agent_listen) is None:
                raise ValueError("--agent-listen must be HOST:PORT")
        except ValueError as exc:
            raise ConfigError(str(exc).replace("--metrics-listen", "--agent-listen")) from None
        if self.heartbeat_amphorae not in ("remote", "all"):
            raise ConfigError(f"unknown heartbeat_amphorae {self.heartbeat_amphorae!r}: "
                              "remote or all")
        if self.heartbeat_listen:
            from nslb.heartbeat.receiver import parse_listen as parse_heartbeat_listen

            try:
                parse_heartbeat_listen(self.heartbeat_listen)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        _check_vxlan(self)
        from nslb.placement.weighers import parse_multipliers

        try:
            parse_multipliers(self.placement_weighers)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        for name in POSITIVE:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)!r}")


def _check_vxlan(settings: Settings) -> None:
    from nslb.model.vxlan import BadSegment, check_address, overlay_mtu, parse_range

    try:
        parse_range(settings.vxlan_vni_range)
        if settings.underlay_address:
            check_address(settings.underlay_address)
    except BadSegment as exc:
        raise ConfigError(str(exc)) from None
    if not 1330 <= settings.underlay_mtu <= 65535:
        raise ConfigError(f"underlay_mtu must be 1330..65535 (a VXLAN network needs "
                          f"{overlay_mtu(1330)} for IPv6), got {settings.underlay_mtu}")


# Numeric settings that make no sense at zero or below.
POSITIVE = ("resync_interval", "health_interval", "max_body_bytes", "header_timeout",
            "body_timeout", "keepalive_timeout", "max_connections", "failover_max_concurrent",
            "access_log_max_bytes", "events_backlog", "events_retention", "lease_ttl",
            "heartbeat_timeout", "heartbeat_window")
# Field types (strings under `from __future__ import annotations`) -> converter for values
# that arrive as text from the environment.
NUMBERS: dict[str, type] = {"float": float, "int": int}


def _coerce(name: str, value: Any) -> Any:
    if name == "state_dir":
        return Path(value)
    if name == "physnet":
        return [v for v in value.split(",") if v] if isinstance(value, str) else list(value)
    number = NUMBERS.get(str(FIELD_TYPES[name]))
    if number is not None:
        try:
            return number(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
    return value


FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


def load(config_file: Path | None = None, overrides: dict[str, Any] | None = None,
         environ: dict[str, str] | None = None) -> Settings:
    """Merge the layers; later layers win. `overrides` holds flags the user actually gave."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or (Path(env["NSLB_CONFIG"]) if env.get("NSLB_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        values.update({k.replace("-", "_"): v for k, v in data.items()})
    names = {f.name for f in fields(Settings)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    for name in names:
        key = f"NSLB_{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update({k: v for k, v in (overrides or {}).items() if v not in (None, [], ())})
    settings = Settings(**{k: _coerce(k, v) for k, v in values.items()})
    settings.validate()
    return settings
