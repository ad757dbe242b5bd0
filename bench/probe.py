"""Runs inside the client namespace: for each `HOST PORT [ATTEMPT_TIMEOUT]` line on stdin,
poll http://HOST:PORT/ until it answers 200 and print the milliseconds it took.

A new attempt starts every STAGGER seconds while the earlier ones are still waiting (each
for at most ATTEMPT_TIMEOUT, default 1 s). Why: before its haproxy listens, a new VIP drops
SYNs (nslb.render.handover), so a connection made just before that moment waits for a
retransmission; one attempt at a time would measure the attempt timeout, not nslb (a
0.2 s timeout turned ~250 ms into 440 ms). With attempts staggered the first 200 is seen
within STAGGER of being possible."""

from __future__ import annotations

import errno
import selectors
import socket
import sys
import time

STAGGER = 0.005
REQUEST = b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n"


def first_success(host: str, port: int, timeout: float = 30, attempt: float = 1.0) -> float:
    start = time.perf_counter()
    deadline = start + timeout
    selector = selectors.DefaultSelector()
    launched = 0.0
    try:
        while (now := time.perf_counter()) < deadline:
            if now - launched >= STAGGER:
                _launch(selector, host, port, now)
                launched = now
            for key, _ in selector.select(timeout=STAGGER):
                if _step(selector, key):
                    return (time.perf_counter() - start) * 1000
            _expire(selector, time.perf_counter() - attempt)
        return -1.0
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()


def _launch(selector: selectors.BaseSelector, host: str, port: int, now: float) -> None:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setblocking(False)
    code = sock.connect_ex((host, port))
    if code not in (0, errno.EINPROGRESS):
        sock.close()
        return
    selector.register(sock, selectors.EVENT_WRITE, {"began": now, "answer": b""})


def _step(selector: selectors.BaseSelector, key: selectors.SelectorKey) -> bool:
    """Advance one attempt; True when it got a 200."""
    sock: socket.socket = key.fileobj  # type: ignore[assignment]
    try:
        if key.events & selectors.EVENT_WRITE:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise OSError("connect failed")
            sock.sendall(REQUEST)
            selector.modify(sock, selectors.EVENT_READ, key.data)
            return False
        data = sock.recv(4096)
        if not data:
            raise OSError("closed before an answer")
        key.data["answer"] += data
        head = key.data["answer"]
        if b"\r\n" not in head:
            return False
        ok = head.split(b" ", 2)[1:2] == [b"200"]
        if not ok:
            raise OSError("not a 200")
        return True
    except OSError:
        selector.unregister(sock)
        sock.close()
        return False


def _expire(selector: selectors.BaseSelector, before: float) -> None:
    for key in list(selector.get_map().values()):
        if key.data["began"] < before:
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]


def main() -> None:
    for line in sys.stdin:
        host, port, *rest = line.split()
        attempt = float(rest[0]) if rest else 1.0
        print(f"{first_success(host, int(port), attempt=attempt):.1f}", flush=True)


if __name__ == "__main__":
    main()
