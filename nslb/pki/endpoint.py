"""The controller's join listener (`nslb serve --agents remote`, `--agent-listen`): HTTPS
with the controller's certificate, a client certificate optional but verified.

- `GET /` versions; `GET /v1/ca`: the CA certificate, which a joining agent checks
  against the fingerprint its token carries before it trusts anything else;
- `POST /v1/join` (no client certificate): a join token and a CSR -> the host's id,
  its certificate (CN = host id, SAN = its address) and the revoked serials, plus, when
  the controller listens for heartbeats, `heartbeat`: the shared key and where to send
  (so the key never goes on an agent's command line; only over this verified TLS);
- `POST /v1/renew` and `GET /v1/revoked`: only for an agent's own valid certificate
  (role, revocation and a known host are checked on every connection, pki/guard.py).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nslb.db import hosts
from nslb.db.engine import Database
from nslb.pki import guard, tokens, values
from nslb.pki.ca import AGENT, PkiError
from nslb.pki.controller import ControllerPki

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _fault(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise values.BadValue("request body too large")
    try:
        data = json.loads(raw)
    except ValueError:
        raise values.BadValue("body must be JSON") from None
    if not isinstance(data, dict):
        raise values.BadValue("body must be a JSON object")
    return data


def versions(_: Request) -> Response:
    return JSONResponse({"versions": [{"id": "v1", "status": "CURRENT",
                                       "links": [{"rel": "self", "href": "/v1/"}]}]})


def ca(request: Request) -> Response:
    pki: ControllerPki = request.app.state.pki
    return Response(pki.ca.pem, media_type="application/x-pem-file")


def _joining(data: dict[str, Any]) -> hosts.Joining:
    return hosts.Joining(
        name=values.host_name(data.get("name")), address=values.address(data.get("address")),
        port=values.port(data.get("port")),
        max_amphorae=values.count(data.get("max_amphorae", 0), "max_amphorae"),
        cpu_count=values.count(data.get("cpu_count", 0), "cpu_count"),
        memory_mb=values.count(data.get("memory_mb", 0), "memory_mb"))


async def join(request: Request) -> Response:
    pki: ControllerPki = request.app.state.pki
    db: Database = request.app.state.db
    try:
        data = await _body(request)
        token = tokens.parse(str(data.get("token", "")))
        joining = _joining(data)
        csr = str(data.get("csr", "")).encode()
    except (values.BadValue, tokens.BadToken) as exc:
        return _fault(400, str(exc))
    if token.ca_fingerprint != pki.ca.fingerprint:
        return _fault(401, "the token is not for this controller's CA")
    host_id = str(uuid.uuid4())
    try:
        issued = pki.ca.issue(csr, role=AGENT, name=host_id, addresses=(joining.address,))
    except PkiError as exc:
        return _fault(400, str(exc))
    with db.write() as session:
        why = hosts.consume_token(session, token, host_id)
        if why is None:
            hosts.add_host(session, joining, issued.serial,
                           issued.expires.replace(tzinfo=None), host_id=host_id)
        revoked = sorted(hosts.revoked(session))
    if why is not None:
        log.warning("refused a join from %s: %s", request.client, why)
        return _fault(401, why)
    log.info("host %s (%s) joined at %s:%d", host_id, joining.name, joining.address,
             joining.port)
    body = {"host_id": host_id, "certificate": issued.pem.decode(),
            "ca": pki.ca.pem.decode(), "revoked": revoked}
    if request.app.state.heartbeat is not None:
        body["heartbeat"] = request.app.state.heartbeat
    return JSONResponse(body, status_code=201)


async def renew(request: Request) -> Response:
    pki: ControllerPki = request.app.state.pki
    db: Database = request.app.state.db
    host_id = request.scope.get("state", {}).get("peer", "")
    if not host_id:
        return _fault(401, "a host's certificate is required")
    try:
        data = await _body(request)
        csr = str(data.get("csr", "")).encode()
    except values.BadValue as exc:
        return _fault(400, str(exc))
    with db.read() as session:
        host = hosts.get(session, host_id)
    if host is None:
        return _fault(401, "not a host of this controller")
    try:
        issued = pki.ca.issue(csr, role=AGENT, name=host.id, addresses=(host.address,))
    except PkiError as exc:
        return _fault(400, str(exc))
    with db.write() as session:
        hosts.renewed(session, host.id, issued.serial, issued.expires.replace(tzinfo=None))
        revoked = sorted(hosts.revoked(session))
    log.info("renewed the certificate of host %s until %s", host.id, issued.expires)
    return JSONResponse({"certificate": issued.pem.decode(), "revoked": revoked})


def revoked_list(request: Request) -> Response:
    if not request.scope.get("state", {}).get("peer"):
        return _fault(401, "a host's certificate is required")
    return JSONResponse({"revoked": sorted(request.app.state.pki.revoked())})


def app(pki: ControllerPki, db: Database,
        heartbeat: dict[str, Any] | None = None) -> Starlette:
    out = Starlette(routes=[
        Route("/", versions, methods=["GET"]),
        Route("/v1/ca", ca, methods=["GET"]),
        Route("/v1/join", join, methods=["POST"]),
        Route("/v1/renew", renew, methods=["POST"]),
        Route("/v1/revoked", revoked_list, methods=["GET"]),
    ])
    out.state.pki = pki
    out.state.db = db
    out.state.heartbeat = heartbeat
    return out


class JoinListener:
    """The join listener's uvicorn server in a thread of `nslb serve`."""

    def __init__(self, pki: ControllerPki, db: Database, host: str, port: int,
                 heartbeat: dict[str, Any] | None = None) -> None:
        """`heartbeat`: what a joining agent is told about heartbeats ({"key", "host",
        "port"}; host "" when the controller listens on every address: the agent then
        sends to the controller's join address), None when heartbeats are off."""
        context = pki.server_context()
        config = uvicorn.Config(
            app(pki, db, heartbeat), host=host, port=port, log_level="warning", access_log=False,
            http=guard.protocol_class(guard.limits(max_body_bytes=MAX_BODY),
                                      pki.agent_refusal),
            ssl_context_factory=lambda _config, _default: context)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="nslb-join", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
