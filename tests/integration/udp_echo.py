"""Tiny UDP backend for integration tests: answers every datagram with its name.

Run inside a test namespace: python udp_echo.py NAME PORT (IPv4 and IPv6).
"""

from __future__ import annotations

import socket
import sys


def main() -> None:
    name, port = sys.argv[1].encode(), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    print("ready", flush=True)
    while True:
        _, peer = sock.recvfrom(2048)
        sock.sendto(name, peer)


if __name__ == "__main__":
    main()
