"""The agent's versioned API, served over mutual TLS to the controller only (the role of
Octavia's amphora agent on port 9443). It wraps a driver of this host (the namespace
driver) and speaks its Protocol as JSON:

    GET    /                          version discovery
    GET    /v1/                       this version's resources
    GET    /v1/facts                  HostFacts (host = this host's id)
    GET    /v1/amphorae               ids of amphorae with data plane here (existing())
    PUT    /v1/amphorae/{id}          apply the Bundle in the body -> {"hash": confirmed}
    GET    /v1/amphorae/{id}          observe -> Observation
    DELETE /v1/amphorae/{id}          delete (idempotent) -> 204

A bundle the data plane refuses (ConfigRejected) answers 422, one older than what the
amphora serves (Superseded) 409 with the served "generation", one rendered for another
state dir (this agent restarted with a new --state-dir) 409 "other_state_dir", any other
failure to apply 500, all with {"error", "kind"}; the remote driver raises the same
exceptions again (ApplyError for "other_state_dir": retried with the host's new facts).
Handlers are sync, so Starlette runs the driver in its thread pool.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nslb.amphora import wire
from nslb.amphora.base import AmphoraDriver, ApplyError, ConfigRejected, Superseded
from nslb.model.bundle import Bundle

log = logging.getLogger(__name__)
VERSION = "v1"
RENDERED_FOR = "x-nslb-rendered-for"  # nslb.amphora.remote sets it
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _fault(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status)


def _driver(request: Request) -> AmphoraDriver:
    driver: AmphoraDriver = request.app.state.driver
    return driver


def _amphora_id(request: Request) -> str | None:
    ident = str(request.path_params["id"])
    return ident if _UUID.match(ident) else None


def versions(_: Request) -> Response:
    return JSONResponse({"versions": [{"id": VERSION, "status": "CURRENT",
                                       "links": [{"rel": "self", "href": f"/{VERSION}/"}]}]})


def version(_: Request) -> Response:
    return JSONResponse({"version": {"id": VERSION, "status": "CURRENT",
                                     "resources": ["facts", "amphorae"]}})


def facts(request: Request) -> Response:
    found = _driver(request).facts()
    found = dataclasses.replace(found, host=request.app.state.host_id)
    return JSONResponse(wire.facts_to_dict(found))


def existing(request: Request) -> Response:
    return JSONResponse({"amphorae": sorted(_driver(request).existing())})


async def apply(request: Request) -> Response:
    amphora_id = _amphora_id(request)
    if amphora_id is None:
        return _fault(404, "not_found", "no such amphora id")
    try:
        bundle = Bundle.from_json((await request.body()).decode())
    except (ValueError, KeyError, TypeError) as exc:
        return _fault(400, "bad_bundle", f"not a bundle: {type(exc).__name__}")
    if bundle.amphora_id != amphora_id:
        return _fault(400, "bad_bundle", "the bundle is for another amphora")
    rendered_for = request.headers.get(RENDERED_FOR)
    own = request.app.state.state_dir
    if rendered_for is not None and own is not None and rendered_for != own:
        return _fault(409, "other_state_dir", f"the bundle was rendered for state dir "
                                              f"{rendered_for[:200]!r}, this agent's is "
                                              f"{own!r}: the controller renders for this "
                                              "host's own --state-dir once it has read "
                                              "its facts again")
    return await run_in_threadpool(_apply, _driver(request), bundle)


def _apply(driver: AmphoraDriver, bundle: Bundle) -> Response:
    try:
        digest = driver.apply(bundle)
    except ConfigRejected as exc:
        return _fault(422, "rejected", str(exc))
    except Superseded as exc:
        return JSONResponse({"error": str(exc), "kind": "superseded",
                             "generation": exc.serving}, status_code=409)
    except ApplyError as exc:
        return _fault(500, "apply", str(exc))
    except Exception as exc:  # any failure is the controller's outcome, not our crash
        log.exception("applying amphora %s failed", bundle.amphora_id)
        return _fault(500, "error", f"{type(exc).__name__}: {exc}")
    return JSONResponse({"hash": digest})


def observe(request: Request) -> Response:
    amphora_id = _amphora_id(request)
    if amphora_id is None:
        return _fault(404, "not_found", "no such amphora id")
    return Response(json.dumps(wire.observation_to_dict(_driver(request).observe(amphora_id))),
                    media_type="application/json")


def delete(request: Request) -> Response:
    amphora_id = _amphora_id(request)
    if amphora_id is None:
        return _fault(404, "not_found", "no such amphora id")
    try:
        _driver(request).delete(amphora_id)
    except Exception as exc:  # reported, retried by the controller
        log.exception("deleting amphora %s failed", amphora_id)
        return _fault(500, "error", f"{type(exc).__name__}: {exc}")
    return Response(status_code=204)


def app(driver: AmphoraDriver, host_id: str) -> Starlette:
    out = Starlette(routes=[
        Route("/", versions, methods=["GET"]),
        Route(f"/{VERSION}/", version, methods=["GET"]),
        Route(f"/{VERSION}/facts", facts, methods=["GET"]),
        Route(f"/{VERSION}/amphorae", existing, methods=["GET"]),
        Route(f"/{VERSION}/amphorae/{{id}}", apply, methods=["PUT"]),
        Route(f"/{VERSION}/amphorae/{{id}}", observe, methods=["GET"]),
        Route(f"/{VERSION}/amphorae/{{id}}", delete, methods=["DELETE"]),
    ])
    out.state.driver = driver
    out.state.host_id = host_id
    out.state.state_dir = driver.facts().state_dir
    return out
