"""UDP client for integration tests, run inside a client namespace.

    udp_probe.py fresh HOST PORT COUNT [TIMEOUT]   COUNT requests, each from a new socket
                                                    (a new source port: a new flow)
    udp_probe.py session HOST PORT [TIMEOUT]       one socket (one flow); one request per
                                                    line read from stdin
    udp_probe.py stream HOST PORT STOPFILE         one request per new socket (0.2 s
                                                    timeout) every 10 ms until STOPFILE exists
Prints the answers (the member's name, or "error") as a JSON list (fresh) or one per line
(session); stream prints [[CLOCK_MONOTONIC at sending, answer], ...].
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time


def ask(sock: socket.socket) -> str:
    try:
        sock.send(b"ping")
        return sock.recv(2048).decode()
    except OSError:
        return "error"


def connected(host: str, port: int, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    sock.connect((host, port))
    return sock


def main() -> None:
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "fresh":
        count = int(sys.argv[4])
        timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
        names = []
        for _ in range(count):
            with connected(host, port, timeout) as sock:
                names.append(ask(sock))
        print(json.dumps(names))
        return
    if mode == "stream":
        sent: list[tuple[float, str]] = []
        while not os.path.exists(sys.argv[4]):
            began = time.monotonic()
            with connected(host, port, 0.2) as sock:
                sent.append((began, ask(sock)))
            time.sleep(0.01)
        print(json.dumps(sent))
        return
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    with connected(host, port, timeout) as sock:
        for _ in sys.stdin:
            print(ask(sock), flush=True)


if __name__ == "__main__":
    main()
