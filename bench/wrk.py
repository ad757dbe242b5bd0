"""wrk inside a namespace, and its summary parsed."""

from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass

CLOSE = ("-H", "Connection: close")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    rps: float
    socket_errors: int
    non_2xx_3xx: int
    seconds: float

    @property
    def failed(self) -> int:
        return self.socket_errors + self.non_2xx_3xx


def argv(ns: str, url: str, seconds: float, connections: int, threads: int,
         close: bool) -> list[str]:
    return ["ip", "netns", "exec", ns, "wrk", f"-t{threads}", f"-c{connections}",
            f"-d{max(1, round(seconds))}s", "--timeout", "5s", *(CLOSE if close else ()), url]


def parse(out: str) -> WrkResult:
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None or rps is None:
        raise RuntimeError(f"unexpected wrk output: {out!r}")
    seconds = float(m.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(3)]
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(requests=int(m.group(1)), rps=float(rps.group(1)),
                     socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
                     non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0, seconds=seconds)


def run(ns: str, url: str, seconds: float, connections: int = 32, threads: int = 1,
        close: bool = False) -> WrkResult:
    r = subprocess.run(argv(ns, url, seconds, connections, threads, close),
                       capture_output=True, text=True, timeout=seconds + 30, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed: {r.stderr.strip()}")
    return parse(r.stdout)


class Background:
    """wrk running until stop() (SIGINT makes wrk print its summary); bounded by max_seconds."""

    def __init__(self, ns: str, url: str, max_seconds: float, connections: int = 16,
                 threads: int = 1, close: bool = False) -> None:
        self.proc = subprocess.Popen(argv(ns, url, max_seconds, connections, threads, close),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.max_seconds = max_seconds

    def stop(self) -> WrkResult:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise RuntimeError("wrk did not stop") from None
        return parse(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
