"""The UDP demo's two programs, run inside its namespaces:

    python -m nslb.demo.udp_echo serve NAME PORT [LABEL]   answer each datagram with
        "NAME echoes: <the datagram>" (IPv4 and IPv6); LABEL names the demo in `ps`
    python -m nslb.demo.udp_echo send HOST PORT COUNT       COUNT datagrams, each from a
        new socket (a new source port: a new flow the load balancer places anew); prints
        the answers as a JSON list, "" for a datagram nobody answered within a second
"""

from __future__ import annotations

import json
import socket
import sys

MAX_DATAGRAM = 2048


def serve(name: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    prefix = f"{name} echoes: ".encode()
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(MAX_DATAGRAM)
        sock.sendto(prefix + data, peer)


def ask(host: str, port: int, text: str, timeout: float = 1.0) -> str:
    """One datagram on a new socket and its answer ("" when none came)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        try:
            sock.send(text.encode())
            return sock.recv(MAX_DATAGRAM).decode(errors="replace")
        except OSError:
            return ""


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "serve":
        serve(args[0], int(args[1]))
    elif mode == "send":
        host, port, count = args[0], int(args[1]), int(args[2])
        print(json.dumps([ask(host, port, f"hello {n}") for n in range(1, count + 1)]))
    else:
        sys.exit(f"unknown mode {mode!r}: serve or send")


if __name__ == "__main__":
    main()
