"""HTTP client for integration tests, run inside a client namespace; prints JSON results.

    python http_probe.py [OPTIONS] URL COUNT [TIMEOUT]  -> list of {"name", "headers"} or {"error"}
    python http_probe.py --loop URL STOPFILE [MAX [TIMEOUT]] -> {"ok": n, "errors": [...]}
                                                           until STOPFILE (or MAX requests,
                                                           "-" for no limit); each request
                                                           waits TIMEOUT s (default 2)
    python http_probe.py --loop-keepalive URL STOPFILE  -> the same over one kept-alive
                                                           connection (a new one after an error)
Otherwise each request uses a new connection, as a fresh client would. OPTIONS:
    --header NAME:VALUE   send this header too (repeatable)
    --cookies             keep cookies between the requests, as a browser would
The query string of URL is sent; answers carrying Set-Cookie report it as "set_cookie".
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit

MAX_LOOP_SECONDS = 60


def fetch(url: str, timeout: float, headers: dict[str, str] | None = None) -> dict[str, object]:
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return {"error": f"status {response.status}"}
        result: dict[str, object] = json.loads(body)
        cookie = response.getheader("Set-Cookie")
        if cookie:
            result["set_cookie"] = cookie
        return result
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        conn.close()


def loop(url: str, stopfile: str, limit: int | None = None,
         timeout: float = 2.0) -> dict[str, object]:
    ok = 0
    errors: list[object] = []
    deadline = time.monotonic() + MAX_LOOP_SECONDS
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        if limit is not None and ok + len(errors) >= limit:
            break
        result = fetch(url, timeout)
        if "error" in result:
            errors.append(result["error"])
        else:
            ok += 1
    return {"ok": ok, "errors": errors}


def keepalive_loop(url: str, stopfile: str) -> dict[str, object]:
    """Requests over one persistent connection, as a browser or wrk does; a request that
    fails on it (the connection was closed under it) counts as an error, never retried."""
    parts = urlsplit(url)
    ok, errors, reused = 0, [], 0
    conn: http.client.HTTPConnection | None = None
    deadline = time.monotonic() + MAX_LOOP_SECONDS
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        if conn is None:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80,
                                              timeout=2.0)
        else:
            reused += 1
        try:
            conn.request("GET", parts.path or "/")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"status {response.status}")
            else:
                ok += 1
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = None
    return {"ok": ok, "errors": errors, "reused": reused}


def session(url: str, count: int, timeout: float, headers: dict[str, str],
            keep_cookies: bool) -> list[dict[str, object]]:
    jar: dict[str, str] = {}
    out = []
    for _ in range(count):
        sent = dict(headers)
        if jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        result = fetch(url, timeout, sent)
        cookie = result.get("set_cookie")
        if keep_cookies and isinstance(cookie, str):
            name, _, value = cookie.split(";")[0].partition("=")
            jar[name.strip()] = value.strip()
        out.append(result)
    return out


def main() -> None:
    args = sys.argv[1:]
    if args[0] == "--loop-keepalive":
        print(json.dumps(keepalive_loop(args[1], args[2])))
        return
    if args[0] == "--loop":
        limit = int(args[3]) if len(args) > 3 and args[3] != "-" else None
        timeout = float(args[4]) if len(args) > 4 else 2.0
        print(json.dumps(loop(args[1], args[2], limit, timeout)))
        return
    headers: dict[str, str] = {}
    keep_cookies = False
    while args[0].startswith("--"):
        option = args.pop(0)
        if option == "--header":
            name, _, value = args.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif option == "--cookies":
            keep_cookies = True
        else:
            raise SystemExit(f"unknown option {option}")
    timeout = float(args[2]) if len(args) > 2 else 2.0
    print(json.dumps(session(args[0], int(args[1]), timeout, headers, keep_cookies)))


if __name__ == "__main__":
    main()
