"""Data-plane throughput: an nslb VIP against a hand-written minimal HAProxy, same binary.

The reference runs in its own namespace with a veth on the same lab bridge (the topology
of an nslb LB namespace), is started the way nslb starts its haproxies (master-worker,
daemonised in its own session) and balances over the same backends. wrk runs in the client
namespace. All targets are measured alternately (the machine is noisy) and medians are
compared, for HTTP keep-alive and for one connection per request. nslb's VIP logs every
request (the default, as in Octavia); `nslb_nologs` is a second LB whose listener has
`connection_logging: false`, the same work as the reference, which logs nothing.

Diagnostic targets, all in the reference namespace:
  nslbcfg      nslb's rendered haproxy.cfg (bind and stats socket rewritten): separates
               the cost of the config from the cost of the topology/process
  foreground   the minimal config as a foreground `haproxy -db` in the bench's own session
               (keep-alive only): shows the effect of the scheduler autogroup of a daemon
  +splice, +httpchk (full mode): the minimal config plus one nslb option each
"""

from __future__ import annotations

import re
import statistics
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
    bind {ip}:{port}
    default_backend be
backend be
    balance roundrobin
{servers}
"""
SPLICE = "    option splice-request\n    option splice-response\n"


def reference_config(backends: list[str], maxconn: int, port: int = 80,
                     extra_defaults: str = "", server_options: str = "",
                     backend_lines: str = "") -> str:
    servers = "\n".join(f"    server s{i} {ip}:{BACKEND_PORT}{server_options}"
                        for i, ip in enumerate(backends))
    text = REFERENCE_CFG.format(ip=REFERENCE_IP, port=port, servers=backend_lines + servers,
                                maxconn=maxconn)
    return text.replace("defaults\n", "defaults\n" + extra_defaults, 1)


def _global_maxconn(cfg: str) -> int:
    for line in cfg.splitlines():
        if line.strip().startswith("maxconn"):
            return int(line.split()[1])
    return 4096


def run(env: Env, quick: bool) -> tuple[dict[str, Any], dict[str, str]]:
    rounds, seconds = (3, 3.0) if quick else (5, 6.0)
    connections = 32
    backends = list(env.backends)[:2]
    lb = env.api.post("/v2/lbaas/loadbalancers",
                      json=tree(env.subnet, backends, DEFAULT_HM)).json()["loadbalancer"]
    quiet = env.api.post("/v2/lbaas/loadbalancers", json=tree(
        env.subnet, backends, DEFAULT_HM, logging=False)).json()["loadbalancer"]
    env.serving_ms(lb["vip_address"])
    env.serving_ms(quiet["vip_address"])
    nslb_cfg = env.haproxy_config(lb["id"])
    maxconn = _global_maxconn(nslb_cfg)
    ref_cfg = reference_config(backends, maxconn)
    ns = env.lab.host("ref", f"{REFERENCE_IP}/{PREFIX}")
    env.daemon(ns, "reference", ref_cfg)
    moved = re.sub(r"stats socket \S+", f"stats socket {env.workdir}/nslbcfg-stats.sock",
                   nslb_cfg).replace(f"bind {lb['vip_address']}:80", f"bind {REFERENCE_IP}:81")
    env.daemon(ns, "nslbcfg", moved)
    fg = env.workdir / "foreground.cfg"
    fg.write_text(reference_config(backends, maxconn, port=82))
    env.lab.spawn(ns, "haproxy", "-db", "-q", "-f", str(fg), quiet=True)
    both = ("keepalive", "newconn")
    targets: dict[str, tuple[str, tuple[str, ...]]] = {
        "nslb": (f"http://{lb['vip_address']}/", both),
        "nslb_nologs": (f"http://{quiet['vip_address']}/", both),
        "reference": (f"http://{REFERENCE_IP}/", both),
        "nslbcfg_in_reference_ns": (f"http://{REFERENCE_IP}:81/", both),
        "reference_foreground": (f"http://{REFERENCE_IP}:82/", ("keepalive",)),
    }
    if not quick:
        env.daemon(ns, "splice", reference_config(backends, maxconn, 83, extra_defaults=SPLICE))
        env.daemon(ns, "httpchk", reference_config(
            backends, maxconn, 84, server_options=" check inter 5s fall 3 rise 3",
            backend_lines="    option httpchk GET /\n    http-check expect status 200\n"))
        targets["reference_plus_splice"] = (f"http://{REFERENCE_IP}:83/", both)
        targets["reference_plus_httpchk"] = (f"http://{REFERENCE_IP}:84/", both)
    for url, _ in targets.values():  # all answer; warm up (ARP, first connections)
        host, _, port = url.split("/")[2].partition(":")
        env.serving_ms(host, int(port or 80))
        wrk.run(env.client_ns, url, 1, connections)
    samples: dict[str, list[float]] = {}
    errors = 0
    for r in range(rounds):
        for mode in both:
            order = [t for t, (_, modes) in targets.items() if mode in modes]
            if r % 2:
                order.reverse()
            for who in order:
                res = wrk.run(env.client_ns, targets[who][0], seconds, connections,
                              close=mode == "newconn")
                samples.setdefault(f"{mode}_{who}", []).append(res.rps)
                errors += res.failed
    direct = wrk.run(env.client_ns, f"http://{backends[0]}:{BACKEND_PORT}/", seconds,
                     connections)
    for created in (lb, quiet):
        env.api.delete(f"/v2/lbaas/loadbalancers/{created['id']}?cascade=true")
    out: dict[str, Any] = {}
    medians = {k: statistics.median(v) for k, v in samples.items()}
    for mode in both:
        out[f"dataplane_ratio_{mode}"] = round(
            medians[f"{mode}_nslb"] / medians[f"{mode}_reference"], 3)
        out[f"dataplane_ratio_{mode}_nologs"] = round(
            medians[f"{mode}_nslb_nologs"] / medians[f"{mode}_reference"], 3)
        for who in targets:
            if f"{mode}_{who}" in medians:
                out[f"dataplane_rps_{mode}_{who}"] = round(medians[f"{mode}_{who}"])
        out[f"dataplane_ratio_{mode}_nslbcfg_in_reference_ns"] = round(
            medians[f"{mode}_nslbcfg_in_reference_ns"] / medians[f"{mode}_reference"], 3)
    out["dataplane_ratio_keepalive_daemon_vs_foreground"] = round(
        medians["keepalive_reference"] / medians["keepalive_reference_foreground"], 3)
    out["dataplane_samples"] = {k: [round(x) for x in v] for k, v in samples.items()}
    out["dataplane_rps_keepalive_one_backend_direct"] = round(direct.rps)
    out["dataplane_errors"] = errors
    out["dataplane_wrk"] = (f"wrk -t1 -c{connections} -d{seconds:g}s (newconn: -H "
                            f"'Connection: close'), {rounds} alternating rounds, medians")
    out["backend"] = f"{len(backends)} x {BACKEND_KIND}"
    return out, {"nslb": nslb_cfg, "reference": ref_cfg}
