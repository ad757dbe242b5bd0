"""`nslb heartbeat ...`: the sending side from the shell (tests, debugging a health manager).

The agent of a host runs the same Sender in its own process; this command runs one over
the driver of this host, reading nslb's state dir like `nslb trace` does.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from nslb.config import ConfigError, load

app = typer.Typer(help="Signed heartbeats of amphorae (issue 10): send them by hand.",
                  no_args_is_help=True, add_completion=False)


@app.command()
def send(
    to: Annotated[list[str], typer.Option(
        help="HOST:PORT of a health manager's --heartbeat-listen; repeatable (each "
             "heartbeat goes to every one)")],
    amphora: Annotated[list[str] | None, typer.Option(
        help="Amphora id to report; repeatable (default: every amphora with data plane "
             "on this host)")] = None,
    key_file: Annotated[Path | None, typer.Option(
        help="The shared key (default: the controller's, <state-dir>/heartbeat.key; env "
             "NSLB_HEARTBEAT_KEY_FILE)")] = None,
    count: Annotated[int, typer.Option(
        help="Rounds to send, one heartbeat per amphora each; 0 sends until Ctrl-C")] = 1,
    interval: Annotated[float, typer.Option(help="Seconds between rounds")] = 1.0,
    state_dir: Annotated[Path | None, typer.Option(
        help="nslb's state dir, where the amphorae's files are (default /var/lib/nslb; "
             "env NSLB_STATE_DIR)")] = None,
    amphora_driver: Annotated[str | None, typer.Option(
        help="namespace (observe this host's amphorae, root) or noop (every amphora "
             "reported not running) (env NSLB_AMPHORA_DRIVER)")] = None,
    config: Annotated[Path | None, typer.Option(
        help="nslb serve's TOML file (env NSLB_CONFIG)")] = None,
) -> None:
    """Observe amphorae of this host and send their signed heartbeats over UDP."""
    from nslb.heartbeat.assembly import key_file as default_key_file
    from nslb.heartbeat.keys import read_key
    from nslb.heartbeat.sender import Sender
    from nslb.service import make_driver

    logging.basicConfig(level="INFO", stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load(config, {"state_dir": state_dir, "amphora_driver": amphora_driver,
                                 "heartbeat_key_file": str(key_file) if key_file else None})
        key = read_key(default_key_file(settings))
        driver = make_driver(settings)
        ids = list(amphora or [])
        sender = Sender(driver, list(to), key, amphorae=(lambda: ids) if ids else None,
                        interval=interval)
    except (ConfigError, OSError, ValueError) as exc:
        typer.echo(f"nslb heartbeat send: {exc}", err=True)
        raise typer.Exit(2) from None
    rounds = 0
    try:
        while True:
            sent = sender.beat()
            rounds += 1
            typer.echo(f"round {rounds}: {sent} heartbeats sent (seq {sender.seq})")
            if count and rounds >= count:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        sender.stop()
        driver.close()
