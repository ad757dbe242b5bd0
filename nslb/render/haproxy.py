"""Render a LoadBalancerSnapshot into haproxy.cfg text. Pure: no I/O but reading templates.

Paths and the file descriptor limit are parameters so the same snapshot always renders the
same text (golden tests) and the caller decides where things live.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render.views import build_config

TEMPLATES = Path(__file__).parent / "templates"
# The account Debian's haproxy package creates; haproxy runs as it from its first instruction.
HAPROXY_USER = "haproxy"


def amphora_dir(state_dir: Path | str, amphora_id: str) -> Path:
    """Where everything of one amphora lives: config, pid file, sockets. (`amp`, not
    `amphora`: haproxy's unix socket paths must stay under 108 bytes.)"""
    return Path(state_dir) / "amp" / amphora_id


def stats_socket_path(state_dir: Path | str, amphora_id: str) -> Path:
    return amphora_dir(state_dir, amphora_id) / "stats.sock"


# The ring every amphora's haproxy logs its connections into (a `ring` section of its own
# config); nslb.accesslog streams it from the amphora's stats socket. Our name, fixed.
ACCESS_RING = "access"


def log_socket_path(state_dir: Path | str) -> Path:
    """The host's access log socket: the UDP agents send their per-flow lines there and
    nslb.accesslog, the one reader on the host, takes them (haproxy logs into its own
    ring instead, ACCESS_RING). A path in the filesystem, not an abstract socket: those
    belong to a network namespace and the agents run in the amphora's."""
    return Path(state_dir) / "access-log.sock"


def ping_wrapper_path(state_dir: Path | str) -> Path:
    """The external-check command of PING monitors; the amphora driver installs it there."""
    return Path(state_dir) / "bin" / "ping-wrapper.sh"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        # haproxy.cfg is not HTML: values are checked and quoted for HAProxy's syntax by
        # nslb.render.values when the views are built, not escaped by the template.
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render_haproxy(snapshot: LoadBalancerSnapshot, *, state_dir: Path | str,
                   fd_limit: int, user: str = HAPROXY_USER, amphora_id: str | None = None,
                   access_logs: bool = True) -> str:
    """The complete haproxy.cfg of one load balancer.

    `fd_limit` is the RLIMIT_NOFILE haproxy will run under; maxconn values are derived from
    it so haproxy never refuses to start for lack of file descriptors. `user` is the
    unprivileged account haproxy runs as (and its group); `amphora_id` (default: the LB's
    id) names the directory of the amphora's sockets and is the hostname of its access
    log lines. With `access_logs` the listeners that have `connection_logging` log into the
    amphora's access log ring (ACCESS_RING), which the host's collector reads. Raises
    values.UnsafeValue when a value is outside its grammar.
    """
    return render_files(snapshot, state_dir=state_dir, fd_limit=fd_limit, user=user,
                        amphora_id=amphora_id, access_logs=access_logs)["haproxy.cfg"]


def render_files(snapshot: LoadBalancerSnapshot, *, state_dir: Path | str, fd_limit: int,
                 user: str = HAPROXY_USER, amphora_id: str | None = None,
                 access_logs: bool = True) -> dict[str, str]:
    """haproxy.cfg and the TLS files it names (certificates, certificate lists, CA and
    CRL files), by their names relative to the amphora's directory."""
    amphora = amphora_id or snapshot.lb.id
    view = build_config(
        snapshot,
        stats_socket=str(stats_socket_path(state_dir, amphora)),
        fd_limit=fd_limit,
        ping_command=str(ping_wrapper_path(state_dir)),
        user=user,
        group=user,
        amphora_id=amphora_id,
        log_ring=ACCESS_RING if access_logs else None,
        tls_base=str(amphora_dir(state_dir, amphora)),
    )
    text = _environment().get_template("haproxy.cfg.j2").render(config=view)
    return {"haproxy.cfg": text, **view.files}
