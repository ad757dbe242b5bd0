"""The UDP programs of bench/udp.py, run inside its namespaces:

    python -m bench.udp_tools echo NAME PORT            answer each datagram with NAME
    python -m bench.udp_tools pingpong HOST PORT SECONDS [FLOWS]
        request/response on FLOWS sockets (one flow each), in turn, for SECONDS; prints
        the answers per second
    python -m bench.udp_tools interleaved VIP VPORT DIRECT DPORT SECONDS [FLOWS]
        request/response on FLOWS sockets to each target, one request to the VIP then one
        straight to the member, in turn, for SECONDS; each round trip is timed, and the
        rate of a path is one over its median round trip: both paths see the same
        moments of a busy machine, and a preempted client does not count
    python -m bench.udp_tools loop HOST PORT STOPFILE   one request per new socket (a new
        flow each), 0.5 s timeout, until STOPFILE exists; prints {"ok": n, "lost": n}
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import time


def echo(name: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    print("ready", flush=True)
    answer = name.encode()
    while True:
        _, peer = sock.recvfrom(2048)
        sock.sendto(answer, peer)


def _socket(host: str, port: int, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    sock.connect((host, port))
    return sock


def pingpong(host: str, port: int, seconds: float, flows: int) -> None:
    socks = [_socket(host, port, 0.2) for _ in range(flows)]
    done = lost = 0
    end = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < end:
        for sock in socks:
            sock.send(b"x")
            try:
                sock.recv(64)
                done += 1
            except TimeoutError:
                lost += 1
    print(json.dumps({"rate": done / (time.perf_counter() - start), "lost": lost}))


def _timed(sock: socket.socket) -> float | None:
    began = time.perf_counter()
    sock.send(b"x")
    try:
        sock.recv(64)
    except TimeoutError:
        return None
    return time.perf_counter() - began


def interleaved(vip: str, vport: int, direct: str, dport: int, seconds: float,
                flows: int) -> None:
    """Rates from the median round trip of each path: a client preempted for 10 ms (on a
    busy machine, often) would otherwise weigh as much as a thousand round trips."""
    pairs = [(_socket(vip, vport, 0.2), _socket(direct, dport, 0.2)) for _ in range(flows)]
    times: dict[str, list[float]] = {"vip": [], "direct": []}
    lost = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for pair in pairs:
            for name, sock in zip(("vip", "direct"), pair, strict=True):
                took = _timed(sock)
                if took is None:
                    lost += 1
                else:
                    times[name].append(took)
    print(json.dumps({"vip_rate": 1 / statistics.median(times["vip"]),
                      "direct_rate": 1 / statistics.median(times["direct"]),
                      "round_trips": len(times["vip"]) + len(times["direct"]),
                      "lost": lost}))


def loop(host: str, port: int, stopfile: str) -> None:
    ok = lost = 0
    while not os.path.exists(stopfile):
        with _socket(host, port, 0.5) as sock:
            try:
                sock.send(b"x")
                sock.recv(64)
                ok += 1
            except OSError:
                lost += 1
    print(json.dumps({"ok": ok, "lost": lost}))


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo(args[0], int(args[1]))
    elif mode == "interleaved":
        interleaved(args[0], int(args[1]), args[2], int(args[3]), float(args[4]),
                    int(args[5]) if len(args) > 5 else 1)
    elif mode == "pingpong":
        pingpong(args[0], int(args[1]), float(args[2]), int(args[3]) if len(args) > 3 else 1)
    else:
        loop(args[0], int(args[1]), args[2])


if __name__ == "__main__":
    main()
