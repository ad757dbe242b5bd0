"""`nslb agent join|run` (on a host that carries amphorae) and `nslb host
token|list|show|remove` (an admin, through the API of `nslb serve`)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nslb.config import DEFAULT_STATE_DIR

agent_app = typer.Typer(help="Run this host's amphorae for a controller on another host.",
                        no_args_is_help=True)
host_app = typer.Typer(help="Hosts whose agents carry amphorae (admin, through the API).",
                       no_args_is_help=True)

DEFAULT_AGENT_DIR = Path("/var/lib/nslb-agent")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"nslb: {message}", err=True)
    return typer.Exit(code)


def _split(listen: str, default_port: int) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        return listen.strip("[]"), default_port
    if not port.isdigit():
        raise typer.BadParameter(f"expected HOST[:PORT], got {listen!r}")
    return host.strip("[]"), int(port)


@agent_app.command("join")
def join(
    controller: Annotated[str, typer.Option(
        help="The controller's join listener, https://HOST:PORT (nslb serve "
             "--agent-listen)")],
    token: Annotated[str, typer.Option(
        envvar="NSLB_JOIN_TOKEN", help="The one-time token from `nslb host token` "
                                       "(env NSLB_JOIN_TOKEN keeps it out of ps)")],
    address: Annotated[str, typer.Option(
        help="ADDRESS[:PORT] the controller reaches this agent at (port default 9443); "
             "it goes into the certificate")],
    state_dir: Annotated[Path, typer.Option(help="The agent's state dir")] =
        DEFAULT_AGENT_DIR,
    name: Annotated[str | None, typer.Option(help="This host's name (default: hostname)")] =
        None,
    max_amphorae: Annotated[int, typer.Option(help="Capacity; 0 for no limit")] = 0,
) -> None:
    """Join a controller: check its CA against the token, send a CSR, keep the certificate."""
    from nslb.agent.join import JoinError
    from nslb.agent.join import join as do_join
    from nslb.agent.state import AgentFiles
    from nslb.pki.values import BadValue
    from nslb.pki.values import address as check_address

    files = AgentFiles(state_dir)
    if files.joined():
        raise _fail(f"{state_dir} already holds a joined agent", 2)
    host, port = _split(address, 9443)
    try:
        host = check_address(host)
        registration = do_join(controller, token, files, host, port, name, max_amphorae)
    except (JoinError, BadValue) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"joined as host {registration.host_id}; run: nslb agent run --state-dir "
               f"{state_dir} --listen {host}:{port}")


@agent_app.command("run")
def run(
    state_dir: Annotated[Path, typer.Option(help="The agent's state dir")] =
        DEFAULT_AGENT_DIR,
    listen: Annotated[str, typer.Option(help="HOST:PORT of the mTLS API")] = "0.0.0.0:9443",
    physnet: Annotated[list[str] | None, typer.Option(
        help="NAME:BRIDGE, repeatable (default physnet1:nslb-br0)")] = None,
    refresh: Annotated[float, typer.Option(
        help="Seconds between fetches of the revoked list (and renewal checks)")] = 60.0,
    underlay_address: Annotated[str, typer.Option(
        help="This host's address on the network between hosts, where its VXLAN tunnels "
             "end (reported to the controller; \"\" = no VXLAN networks here)")] = "",
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
    heartbeat_to: Annotated[list[str] | None, typer.Option(
        help="HOST:PORT of a controller's --heartbeat-listen, repeatable (default: the "
             "one learned at join); the key is the one the controller sent at join")] = None,
    heartbeat_interval: Annotated[float, typer.Option(
        help="Seconds between two heartbeats of each amphora")] = 1.0,
) -> None:
    """Serve this host's amphorae to the controller over mutual TLS (needs root)."""
    from nslb.agent.run import AgentServer
    from nslb.agent.state import AgentFiles
    from nslb.amphora.namespace import NamespaceDriver
    from nslb.config import ConfigError, Settings

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.geteuid() != 0:
        raise _fail("the agent needs root (network namespaces, bridges, haproxy)", 2)
    files = AgentFiles(state_dir)
    if not files.joined():
        raise _fail(f"{state_dir} holds no joined agent: run `nslb agent join` first", 2)
    try:
        physnets = Settings(physnet=physnet or Settings().physnet).physnets
        driver = NamespaceDriver(state_dir, physnets, underlay_address=underlay_address)
    except (ConfigError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    host, port = _split(listen, 9443)
    try:
        server = AgentServer(files, driver, host, port, refresh=refresh,
                             heartbeat_to=heartbeat_to, heartbeat_interval=heartbeat_interval)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    logging.getLogger("nslb").info("nslb agent %s serving on https://%s:%d",
                                   files.registration().host_id, host, port)
    server.run()


# --- hosts, through the API --------------------------------------------------------------

UrlOption = Annotated[str, typer.Option(help="Where nslb serve answers")]
StateOption = Annotated[Path, typer.Option(
    help="nslb serve's state dir: its clouds.yaml (with --auth keystone) is used to log in")]


def _api(url: str, state_dir: Path) -> Any:
    from nslb.demo.run import Api

    return Api(url, state_dir / "clouds.yaml")


def _call(url: str, state_dir: Path, method: str, path: str,
          body: dict[str, Any] | None = None) -> Any:
    from nslb.demo.run import ApiFailure, DemoError

    try:
        return _api(url, state_dir).call(method, path, body)
    except ApiFailure as exc:
        raise _fail(f"{method} {path}: {exc.status} {exc.body}") from None
    except DemoError as exc:
        raise _fail(str(exc)) from None


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    if text.isdigit():
        return int(text)
    raise typer.BadParameter(f"expected a duration like 30m, 1h or 2d, got {text!r}")


@host_app.command("token")
def token(
    expires: Annotated[str, typer.Option(help="Lifetime: 30m, 1h, 2d (60 s to 7 d)")] = "1h",
    url: UrlOption = "http://127.0.0.1:9876",
    state_dir: StateOption = DEFAULT_STATE_DIR,
) -> None:
    """Make a one-time join token (printed once; the controller keeps only its hash)."""
    made = _call(url, state_dir, "POST", "/v2/lbaas/hosts/tokens",
                 {"token": {"expires_in": _seconds(expires)}})["token"]
    typer.echo(made["token"])
    typer.echo(f"expires {made['expires_at']} UTC; CA fingerprint sha256 "
               f"{made['ca_fingerprint']}", err=True)


@host_app.command("list")
def list_hosts(url: UrlOption = "http://127.0.0.1:9876",
               state_dir: StateOption = DEFAULT_STATE_DIR,
               json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Hosts with state, address and amphora count."""
    found = _call(url, state_dir, "GET", "/v2/lbaas/hosts")["hosts"]
    if json_output:
        typer.echo(json.dumps(found, indent=2))
        return
    typer.echo(f"{'id':36}  {'name':16}  {'state':5}  {'admin':8}  {'address':24}  "
               "amphorae")
    for h in found:
        typer.echo(f"{h['id']:36}  {h['name'][:16]:16}  {h['state']:5}  "
                   f"{h.get('admin_state', 'ACTIVE'):8}  "
                   f"{h['address'] + ':' + str(h['port']):24}  {h['amphora_count']}")


@host_app.command("show")
def show(host_id: str, url: UrlOption = "http://127.0.0.1:9876",
         state_dir: StateOption = DEFAULT_STATE_DIR) -> None:
    """One host as JSON."""
    typer.echo(json.dumps(_call(url, state_dir, "GET", f"/v2/lbaas/hosts/{host_id}")["host"],
                          indent=2))


@host_app.command("drain")
def drain(host_id: str, url: UrlOption = "http://127.0.0.1:9876",
          state_dir: StateOption = DEFAULT_STATE_DIR) -> None:
    """Move a host's amphorae elsewhere (standbys first), then it can be removed."""
    found = _call(url, state_dir, "POST", f"/v2/lbaas/hosts/{host_id}/drain")["host"]
    typer.echo(f"host {host_id} is {found['admin_state']} ({found['amphora_count']} "
               "amphorae left); `nslb host list` shows DRAINED when it carries none")


@host_app.command("undrain")
def undrain(host_id: str, url: UrlOption = "http://127.0.0.1:9876",
            state_dir: StateOption = DEFAULT_STATE_DIR) -> None:
    """Take a draining or drained host back into service (it gets new amphorae again)."""
    found = _call(url, state_dir, "POST", f"/v2/lbaas/hosts/{host_id}/undrain")["host"]
    typer.echo(f"host {host_id} is {found['admin_state']}")


@host_app.command("remove")
def remove(host_id: str, url: UrlOption = "http://127.0.0.1:9876",
           state_dir: StateOption = DEFAULT_STATE_DIR) -> None:
    """Forget a host that carries no amphora and revoke its certificate."""
    _call(url, state_dir, "DELETE", f"/v2/lbaas/hosts/{host_id}")
    typer.echo(f"removed host {host_id}")
