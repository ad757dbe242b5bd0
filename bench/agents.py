"""What the agent API costs the controller: the remote driver against an agent on
loopback (mutual TLS, kept-alive connections) next to the same calls in process. The agent
wraps the noop driver, so the figures are the transport's: JSON, TLS, HTTP, the checks.

    python -m bench.agents [--calls 300]

Prints JSON: per call ms for apply (an 8 KB bundle) and observe, remote and in process,
their ratios, and a fresh mTLS connection with one request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import insert

from nslb.agent.join import join
from nslb.agent.run import AgentServer
from nslb.agent.state import AgentFiles
from nslb.amphora.noop import NoopDriver
from nslb.amphora.remote import RemoteDriver
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.migrate import upgrade
from nslb.db.tables import amphora
from nslb.model.bundle import Bundle
from nslb.model.resources import utcnow
from nslb.pki import tokens
from nslb.pki.controller import ControllerPki
from nslb.pki.endpoint import JoinListener

LOOPBACK = "127.0.0.1"


def _port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def _per_call(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1000


def run(calls: int = 300) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="nslb-bench-agents-"))
    db = Database(f"sqlite:///{work / 'nslb.db'}")
    upgrade(db)
    pki = ControllerPki(work / "controller", db, (LOOPBACK,))
    join_port, agent_port = _port(), _port()
    listener = JoinListener(pki, db, LOOPBACK, join_port)
    listener.start()
    server: AgentServer | None = None
    remote = RemoteDriver(db, pki)
    try:
        _listening(join_port)
        token = tokens.new(pki.ca.fingerprint)
        with db.write() as session:
            hosts.add_token(session, token, dt.timedelta(minutes=5))
        files = AgentFiles(work / "agent")
        join(f"https://{LOOPBACK}:{join_port}", token.text, files, LOOPBACK, agent_port)
        server = AgentServer(files, NoopDriver(), LOOPBACK, agent_port, refresh=3600)
        threading.Thread(target=server.run, daemon=True).start()
        _listening(agent_port)

        amphora_id = str(uuid.uuid4())
        with db.write() as session:
            session.execute(insert(amphora).values(
                id=amphora_id, status="ALLOCATED", cert_busy=False, created_at=utcnow(),
                applied_generation=0))
        bundle = Bundle(amphora_id=amphora_id, loadbalancer_id=str(uuid.uuid4()),
                        generation=1, files={"haproxy.cfg": "x" * 8192})
        local = NoopDriver()
        remote.apply(bundle)
        local.apply(bundle)
        out = {
            "agent_apply_ms": _per_call(lambda: remote.apply(bundle), calls),
            "local_apply_ms": _per_call(lambda: local.apply(bundle), calls),
            "agent_observe_ms": _per_call(lambda: remote.observe(amphora_id), calls),
            "local_observe_ms": _per_call(lambda: local.observe(amphora_id), calls),
        }

        def fresh() -> None:
            with httpx.Client(verify=pki.client_context()) as http:
                http.get(f"https://{LOOPBACK}:{agent_port}/v1/facts")

        out["agent_new_connection_ms"] = _per_call(fresh, max(calls // 10, 10))
        out["ratio_apply"] = out["agent_apply_ms"] / out["local_apply_ms"]
        out["ratio_observe"] = out["agent_observe_ms"] / out["local_observe_ms"]
        return {k: round(v, 3) for k, v in out.items()}
    finally:
        remote.close()
        if server is not None:
            server.server.should_exit = True
        listener.stop()
        db.dispose()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    print(json.dumps(run(parser.parse_args().calls), indent=2))


if __name__ == "__main__":
    main()
