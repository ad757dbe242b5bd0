"""TLS: an nslb TERMINATED_HTTPS listener against a hand-written HAProxy config serving the
same certificate in the same topology (its own namespace on the lab bridge, started the
way nslb starts its haproxies), then certificate rotations under load.

- handshakes/s: wrk with `Connection: close`, so every request is a new TLS handshake;
- HTTPS keep-alive requests/s: wrk over kept-alive connections;
  both measured alternately in rounds (the machine is noisy), medians compared as ratios;
- rotations: 20 `listener set --default-tls-container-ref <new secret>` while wrk makes
  new TLS connections through the VIP; every socket error and non-2xx answer is a failed
  request, and the master's reload counter shows whether any rotation reloaded.

Compared like for like: nslb's listener with `connection_logging: false` against the
reference as above (neither logs), and nslb's default listener (it logs every request)
against `reference_logs`, the same hand-written config logging every request the way a
hand-written HAProxy usually does (`option httplog`, `log <socket> local0`: a datagram to
the host's syslog socket per request; here a socket `socat` reads and discards, cheaper
than any syslog daemon). `tls_ratio_keepalive` (nslb logging against the reference that
logs nothing) is what access logs cost on top.

Diagnostic targets, to tell a cost of nslb's config from one of its topology:
  nslb_nologs              a second LB whose listener has `connection_logging: false`
                           (the reference logs nothing; nslb logs each request by default)
  nslbcfg_in_reference_ns  nslb's rendered haproxy.cfg (bind and stats socket rewritten,
                           the same certificate files) run in the reference's namespace;
                           it logs into its ring, which nobody reads there
  nslbcfg_logs_to_socat    the same, logging a datagram per request to a socket `socat`
                           reads and discards (how nslb logged before its rings)

The certificate is an ECDSA P-256 one made with `cryptography` (tests/tls_material.py),
stored in the key manager as a PKCS12 secret, as a user would.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench import wrk
from bench.env import DEFAULT_HM, HOSTS, PREFIX, Env
from bench.server import wait_lb
from bench.throughput import _global_maxconn
from tests.tls_material import Authority, store_secret

REFERENCE_IP = HOSTS + "21"
ROTATIONS = 20
REFERENCE_CFG = """global
    maxconn {maxconn}
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind {ip}:{port} ssl crt {crt}
{log}    default_backend be
backend be
    balance roundrobin
{servers}
"""


def _lb_body(env: Env, ref: str, backends: list[str], logging: bool = True) -> dict[str, Any]:
    return {"loadbalancer": {"vip_subnet_id": env.subnet, "listeners": [{
        "protocol": "TERMINATED_HTTPS", "protocol_port": 443, "connection_logging": logging,
        "default_tls_container_ref": ref, "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "healthmonitor": DEFAULT_HM,
                   "members": [{"address": a, "protocol_port": 8080} for a in backends]}]}}


def run(env: Env, quick: bool) -> dict[str, Any]:
    rounds, seconds = (3, 3.0) if quick else (5, 6.0)
    connections = 32
    backends = list(env.backends)[:2]
    authority = Authority("bench")
    certs = [authority.server("www.bench.test", cn=f"rotation-{n}")
             for n in range(ROTATIONS + 1)]
    refs = [store_secret(env.api, c.pkcs12(), f"bench-{n}") for n, c in enumerate(certs)]
    lb = env.api.post("/v2/lbaas/loadbalancers",
                      json=_lb_body(env, refs[0], backends)).json()["loadbalancer"]
    quiet = env.api.post("/v2/lbaas/loadbalancers", json=_lb_body(
        env, refs[0], backends, logging=False)).json()["loadbalancer"]
    lb_id, vip = lb["id"], lb["vip_address"]
    wait_lb(env.api, lb_id, timeout=60, interval=0.05)
    wait_lb(env.api, quiet["id"], timeout=60, interval=0.05)
    amphora = env.amphora_dir(lb_id)
    nslb_cfg = env.haproxy_config(lb_id)
    crt = env.workdir / "reference.crt.pem"
    crt.write_text(next(amphora.glob("tls/*/default.crt.pem")).read_text())
    servers = "\n".join(f"    server s{i} {ip}:8080" for i, ip in enumerate(backends))
    maxconn = _global_maxconn(nslb_cfg)
    ns = env.lab.host("tlsref", f"{REFERENCE_IP}/{PREFIX}")
    env.daemon(ns, "tls-reference", REFERENCE_CFG.format(
        maxconn=maxconn, ip=REFERENCE_IP, port=443, crt=crt, servers=servers, log=""))
    moved = re.sub(r"stats socket \S+", f"stats socket {env.workdir}/tls-nslbcfg.sock",
                   nslb_cfg).replace(f"bind {vip}:443", f"bind {REFERENCE_IP}:444")
    env.daemon(ns, "tls-nslbcfg", moved)
    sink = Path(f"/tmp/{env.lab.tag}-tls-sink.sock")  # haproxy's account reaches /tmp
    env.lab.spawn(ns, "socat", "-u", f"UNIX-RECV:{sink},mode=666", "OPEN:/dev/null", quiet=True)
    _until(sink.exists)
    env.daemon(ns, "tls-reference-logs", REFERENCE_CFG.format(
        maxconn=maxconn, ip=REFERENCE_IP, port=446, crt=crt, servers=servers,
        log=f"    option httplog\n    log {sink} local0\n"))
    env.daemon(ns, "tls-nslbcfg-socat", re.sub(
        r"stats socket \S+", f"stats socket {env.workdir}/tls-socat.sock",
        re.sub(r"^    log ring@\S+", f"    log {sink}", nslb_cfg, flags=re.M)
    ).replace(f"bind {vip}:443", f"bind {REFERENCE_IP}:445"))
    targets = {"nslb": f"https://{vip}/", "reference": f"https://{REFERENCE_IP}/",
               "nslb_nologs": f"https://{quiet['vip_address']}/",
               "nslbcfg_in_reference_ns": f"https://{REFERENCE_IP}:444/",
               "nslbcfg_logs_to_socat": f"https://{REFERENCE_IP}:445/",
               "reference_logs": f"https://{REFERENCE_IP}:446/"}
    for url in targets.values():  # warm up: ARP, first handshakes
        _until_serving(env, url)
    samples: dict[str, list[float]] = {}
    errors = 0
    for r in range(rounds):
        for mode in ("keepalive", "handshake"):
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for who in order:
                res = wrk.run(env.client_ns, targets[who], seconds, connections,
                              close=mode == "handshake")
                samples.setdefault(f"{mode}_{who}", []).append(res.rps)
                errors += res.failed
    out: dict[str, Any] = {}
    medians = {k: statistics.median(v) for k, v in samples.items()}
    for mode in ("keepalive", "handshake"):
        for who in targets:
            if who != "reference":
                suffix = "" if who == "nslb" else f"_{who}"
                out[f"tls_ratio_{mode}{suffix}"] = round(
                    medians[f"{mode}_{who}"] / medians[f"{mode}_reference"], 3)
        out[f"tls_ratio_{mode}_like_for_like_logs"] = round(
            medians[f"{mode}_nslb"] / medians[f"{mode}_reference_logs"], 3)
        for who in targets:
            out[f"tls_rps_{mode}_{who}"] = round(medians[f"{mode}_{who}"])
    out["tls_samples"] = {k: [round(x) for x in v] for k, v in samples.items()}
    out["tls_errors"] = errors
    out["tls_wrk"] = (f"wrk -t1 -c{connections} -d{seconds:g}s over HTTPS (handshake: "
                      f"-H 'Connection: close'), {rounds} alternating rounds, medians; "
                      "ECDSA P-256 certificate")
    out.update(_rotations(env, lb_id, targets["nslb"], refs[1:]))
    sink.unlink(missing_ok=True)
    for created in (lb_id, quiet["id"]):
        env.api.delete(f"/v2/lbaas/loadbalancers/{created}?cascade=true")
    return out


def _rotations(env: Env, lb_id: str, url: str, refs: list[str]) -> dict[str, Any]:
    listener = env.api.get(f"/v2/lbaas/listeners?loadbalancer_id={lb_id}").json()[
        "listeners"][0]["id"]
    reloads = env.haproxy_reloads(lb_id)
    load = wrk.Background(env.client_ns, url, max_seconds=600, close=True)
    took = []
    try:
        time.sleep(1.0)
        for ref in refs:
            t0 = time.perf_counter()
            r = env.api.put(f"/v2/lbaas/listeners/{listener}",
                            json={"listener": {"default_tls_container_ref": ref}})
            if r.status_code >= 300:
                raise RuntimeError(f"rotation: {r.status_code} {r.text}")
            wait_lb(env.api, lb_id, timeout=30, interval=0.01)
            took.append((time.perf_counter() - t0) * 1000)
        time.sleep(1.0)
        result = load.stop()
    finally:
        load.kill()
    return {"tls_rotation_failed_requests": result.failed,
            "tls_rotation_total_requests": result.requests,
            "tls_rotations": len(refs),
            "tls_rotation_reloads": env.haproxy_reloads(lb_id) - reloads,
            "tls_rotation_to_active_ms_p50": round(statistics.median(took), 1)}


def _until(ready: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{ready} never became true")
        time.sleep(0.05)


def _until_serving(env: Env, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if wrk.run(env.client_ns, url, 1, 4).requests > 0:
                return
        except RuntimeError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered")
        time.sleep(0.2)
