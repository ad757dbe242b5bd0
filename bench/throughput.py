"""Data-plane throughput: an nslb VIP against a hand-written minimal HAProxy, same binary.

The reference runs in its own namespace with a veth on the same lab bridge (the topology
of an nslb LB namespace) and balances over the same backends. wrk runs in the client
namespace; nslb and the reference are measured alternately (the machine is noisy) and the
medians are compared, for HTTP keep-alive and for one connection per request.
"""

from __future__ import annotations

import statistics
import subprocess
from typing import Any

from bench import wrk
from bench.env import BACKEND_KIND, BACKEND_PORT, DEFAULT_HM, HOSTS, PREFIX, Env, tree

REFERENCE_IP = HOSTS + "20"
REFERENCE_CFG = """global
    maxconn {maxconn}
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind {ip}:80
    default_backend be
backend be
    balance roundrobin
{servers}
"""


def reference_config(backends: list[str], maxconn: int, extra_defaults: str = "") -> str:
    servers = "\n".join(f"    server s{i} {ip}:{BACKEND_PORT}" for i, ip in enumerate(backends))
    text = REFERENCE_CFG.format(ip=REFERENCE_IP, servers=servers, maxconn=maxconn)
    if extra_defaults:
        text = text.replace("defaults\n", "defaults\n" + extra_defaults, 1)
    return text


def _global_maxconn(cfg: str) -> int:
    for line in cfg.splitlines():
        if line.strip().startswith("maxconn"):
            return int(line.split()[1])
    return 4096


def start_reference(env: Env, text: str) -> subprocess.Popen[bytes]:
    if "ref" not in env.backend_ns:
        env.backend_ns["ref"] = env.lab.host("ref", f"{REFERENCE_IP}/{PREFIX}")
    cfg = env.workdir / "reference.cfg"
    cfg.write_text(text)
    return env.lab.spawn(env.backend_ns["ref"], "haproxy", "-db", "-q", "-f", str(cfg),
                         quiet=True)


def run(env: Env, quick: bool) -> tuple[dict[str, Any], dict[str, str]]:
    rounds, seconds = (3, 4.0) if quick else (5, 10.0)
    connections = 32
    backends = [ip for ip in env.backends][:2]
    lb = env.api.post("/v2/lbaas/loadbalancers",
                      json=tree(env.subnet, backends, DEFAULT_HM)).json()["loadbalancer"]
    env.serving_ms(lb["vip_address"])
    nslb_cfg = env.haproxy_config(lb["id"])
    ref_cfg = reference_config(backends, _global_maxconn(nslb_cfg))
    ref = start_reference(env, ref_cfg)
    env.serving_ms(REFERENCE_IP)
    urls = {"nslb": f"http://{lb['vip_address']}/", "reference": f"http://{REFERENCE_IP}/"}
    for url in urls.values():  # warm up both (ARP, first connections, page cache)
        wrk.run(env.client_ns, url, 1, connections)
    samples: dict[str, list[float]] = {}
    errors = 0
    for r in range(rounds):
        for mode, close in (("keepalive", False), ("newconn", True)):
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            for who in order:
                res = wrk.run(env.client_ns, urls[who], seconds, connections, close=close)
                samples.setdefault(f"{mode}_{who}", []).append(res.rps)
                errors += res.failed
    direct = wrk.run(env.client_ns, f"http://{backends[0]}:{BACKEND_PORT}/", seconds,
                     connections)
    ref.kill()
    ref.wait()
    env.api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
    out: dict[str, Any] = {}
    for mode in ("keepalive", "newconn"):
        nslb_rps = statistics.median(samples[f"{mode}_nslb"])
        ref_rps = statistics.median(samples[f"{mode}_reference"])
        out[f"dataplane_ratio_{mode}"] = round(nslb_rps / ref_rps, 3)
        out[f"dataplane_rps_{mode}_nslb"] = round(nslb_rps)
        out[f"dataplane_rps_{mode}_reference"] = round(ref_rps)
        out[f"dataplane_rps_{mode}_nslb_samples"] = [round(x) for x in samples[f"{mode}_nslb"]]
        out[f"dataplane_rps_{mode}_reference_samples"] = [
            round(x) for x in samples[f"{mode}_reference"]]
    out["dataplane_rps_keepalive_one_backend_direct"] = round(direct.rps)
    out["dataplane_errors"] = errors
    out["dataplane_wrk"] = (f"wrk -t1 -c{connections} -d{seconds:g}s (newconn: -H "
                            f"'Connection: close'), {rounds} alternating rounds, medians")
    out["backend"] = f"{len(backends)} x {BACKEND_KIND}"
    return out, {"nslb": nslb_cfg, "reference": ref_cfg}
