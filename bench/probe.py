"""Runs inside the client namespace: for each `HOST PORT` line on stdin, poll
http://HOST:PORT/ until it answers 200 and print the milliseconds it took."""

from __future__ import annotations

import http.client
import sys
import time


def first_success(host: str, port: int, timeout: float = 30) -> float:
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=1)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return (time.perf_counter() - start) * 1000
        except OSError:
            pass
        time.sleep(0.002)
    return -1.0


def main() -> None:
    for line in sys.stdin:
        host, port = line.split()
        print(f"{first_success(host, int(port)):.1f}", flush=True)


if __name__ == "__main__":
    main()
