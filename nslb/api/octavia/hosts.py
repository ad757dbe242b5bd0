"""`/v2/lbaas/hosts`: the hosts whose agents carry amphorae (`nslb serve --agents
remote`), an nslb extension (Octavia has no such resource). Admin only (api/policy.py).

    GET    /v2/lbaas/hosts              {"hosts": [...]} with state, address, amphora count
    GET    /v2/lbaas/hosts/{id}         {"host": {...}}
    DELETE /v2/lbaas/hosts/{id}         forget a host that carries no amphora (409 else)
                                        and revoke its certificate
    POST   /v2/lbaas/hosts/{id}/drain   202: the host takes no new amphorae and its own are
                                        failed over elsewhere (admin_state DRAINING, then
                                        DRAINED; nslb/health/hoststate.py)
    POST   /v2/lbaas/hosts/{id}/undrain 200: back to ACTIVE, it takes new amphorae again
    POST   /v2/lbaas/hosts/tokens       {"token": {"expires_in": SECONDS}} -> a one-time
                                        join token (shown once; only its hash is kept)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nslb.api.faults import BadRequest, Conflict, NotFound
from nslb.api.http import read_root, respond
from nslb.api.octavia.common import db
from nslb.api.octavia.views import ts
from nslb.db import hosts
from nslb.db.query import short
from nslb.pki import tokens
from nslb.pki.ca import CertificateAuthority
from nslb.pki.controller import pki_dir

MAX_TOKEN_SECONDS = 7 * 24 * 3600
DEFAULT_TOKEN_SECONDS = 3600


def view(host: hosts.Host) -> dict[str, Any]:
    return {"id": host.id, "name": host.name, "address": host.address, "port": host.port,
            "state": host.state, "admin_state": host.admin_state,
            "amphora_count": host.amphorae,
            "capacity": {"max_amphorae": host.max_amphorae, "cpu_count": host.cpu_count,
                         "memory_mb": host.memory_mb},
            "cert_serial": host.cert_serial, "cert_expiration": ts(host.cert_expiry),
            "created_at": ts(host.created_at), "updated_at": ts(host.updated_at),
            "underlay_address": host.underlay_address}


def _find(request: Request) -> hosts.Host:
    ident = request.path_params["id"]
    with db(request).read() as session:
        host = hosts.get(session, ident, count=True)
    if host is None:
        raise NotFound(f"Host {short(ident)} not found.")
    return host


async def list_all(request: Request) -> Response:
    with db(request).read() as session:
        return respond({"hosts": [view(h) for h in hosts.all_hosts(session)]})


async def show(request: Request) -> Response:
    return respond({"host": view(_find(request))})


async def remove(request: Request) -> Response:
    host = _find(request)
    with db(request).write() as session:
        current = hosts.get(session, host.id, count=True)
        if current is not None and current.amphorae:
            raise Conflict(f"Host {host.id} carries {current.amphorae} amphorae; "
                           "drain it first (POST /v2/lbaas/hosts/{id}/drain).")
        hosts.remove(session, host.id)
    return Response(status_code=204)


async def drain(request: Request) -> Response:
    """Start draining a host (idempotent); the hosts loop moves its amphorae."""
    host = _find(request)
    with db(request).write() as session:
        if host.admin_state == hosts.ACTIVE:
            hosts.set_admin_state(session, host.id, hosts.DRAINING)
        current = hosts.get(session, host.id, count=True)
    assert current is not None
    return respond({"host": view(current)}, status=202)


async def undrain(request: Request) -> Response:
    """End a drain (or take a DRAINED host back into service)."""
    host = _find(request)
    with db(request).write() as session:
        hosts.set_admin_state(session, host.id, hosts.ACTIVE)
        current = hosts.get(session, host.id, count=True)
    assert current is not None
    return respond({"host": view(current)})


async def make_token(request: Request) -> Response:
    body = await read_root(request, "token")
    seconds = body.get("expires_in", DEFAULT_TOKEN_SECONDS)
    if not isinstance(seconds, int) or isinstance(seconds, bool) \
            or not 60 <= seconds <= MAX_TOKEN_SECONDS:
        raise BadRequest(f"Invalid input: expires_in must be an integer from 60 to "
                         f"{MAX_TOKEN_SECONDS} seconds")
    ca = CertificateAuthority.load_or_create(pki_dir(request.app.state.settings.state_dir))
    token = tokens.new(ca.fingerprint)
    with db(request).write() as session:
        expires = hosts.add_token(session, token, timedelta(seconds=seconds))
    return respond({"token": {"id": token.token_id, "token": token.text,
                              "ca_fingerprint": ca.fingerprint, "expires_at": ts(expires)}},
                   status=201)


def routes() -> list[Route]:
    base = "/lbaas/hosts"
    return [
        Route(base, list_all, methods=["GET"]),
        Route(base + "/tokens", make_token, methods=["POST"]),
        Route(base + "/{id}", show, methods=["GET"]),
        Route(base + "/{id}", remove, methods=["DELETE"]),
        Route(base + "/{id}/drain", drain, methods=["POST"]),
        Route(base + "/{id}/undrain", undrain, methods=["POST"]),
    ]
