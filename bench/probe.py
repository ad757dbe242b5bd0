"""Runs inside the client namespace: for each `HOST PORT [ATTEMPT_TIMEOUT]` line on stdin,
poll http://HOST:PORT/ until it answers 200 and print the milliseconds it took. Each
attempt waits ATTEMPT_TIMEOUT seconds (default 1) for its connection and answer."""

from __future__ import annotations

import http.client
import sys
import time


def first_success(host: str, port: int, timeout: float = 30, attempt: float = 1.0) -> float:
    start = time.perf_counter()
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=attempt)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return (time.perf_counter() - start) * 1000
        except OSError:
            pass
        time.sleep(0.002)
    return -1.0


def main() -> None:
    for line in sys.stdin:
        host, port, *rest = line.split()
        attempt = float(rest[0]) if rest else 1.0
        print(f"{first_success(host, int(port), attempt=attempt):.1f}", flush=True)


if __name__ == "__main__":
    main()
