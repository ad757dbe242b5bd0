"""HTTP client for integration tests, run inside a client namespace; prints JSON results.

    python http_probe.py URL COUNT [TIMEOUT]      -> list of {"name", "headers"} or {"error"}
    python http_probe.py --loop URL STOPFILE      -> {"ok": n, "errors": [...]} until STOPFILE
Each request uses a new connection, as a fresh client would.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

MAX_LOOP_SECONDS = 60


def fetch(url: str, timeout: float) -> dict[str, object]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return {"error": f"status {response.status}"}
        return json.loads(body)  # type: ignore[no-any-return]
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        conn.close()


def loop(url: str, stopfile: str) -> dict[str, object]:
    ok, errors = 0, []
    deadline = time.monotonic() + MAX_LOOP_SECONDS
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        result = fetch(url, 2.0)
        if "error" in result:
            errors.append(result["error"])
        else:
            ok += 1
    return {"ok": ok, "errors": errors}


def main() -> None:
    if sys.argv[1] == "--loop":
        print(json.dumps(loop(sys.argv[2], sys.argv[3])))
        return
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    print(json.dumps([fetch(sys.argv[1], timeout) for _ in range(int(sys.argv[2]))]))


if __name__ == "__main__":
    main()
