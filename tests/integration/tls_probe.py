"""HTTPS client for integration tests, run inside a client namespace; prints JSON.

    python tls_probe.py once ADDRESS SNI CA_PEM PATH [CLIENT_PEM]
        -> {"cn": served certificate's CN, "status", "headers", "body"} or {"error"}
    python tls_probe.py loop ADDRESS SNI CA_PEM STOPFILE
        -> {"ok": n, "errors": [...], "cns": {cn: count}}: a new connection and handshake
           per request until STOPFILE appears (at most MAX_LOOP_SECONDS)

The server certificate is verified against CA_PEM for the name SNI (sent as SNI and Host);
CLIENT_PEM (certificate and key) is presented when given. Port 443.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import sys
import time

PORT = 443
MAX_LOOP_SECONDS = 60


def context(ca: str, client: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if client:
        ctx.load_cert_chain(client)
    return ctx


def once(address: str, sni: str, ctx: ssl.SSLContext, path: str = "/") -> dict[str, object]:
    try:
        raw = socket.create_connection((address, PORT), timeout=3)
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            peer = tls.getpeercert() or {}
            cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn
                       if k == "commonName"), None)
            conn = http.client.HTTPConnection(sni, PORT, timeout=3)
            conn.sock = tls
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
            return {"cn": cn, "status": response.status,
                    "headers": {k.lower(): v for k, v in response.getheaders()},
                    "body": body}
    except (OSError, http.client.HTTPException) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def loop(address: str, sni: str, ctx: ssl.SSLContext, stopfile: str) -> dict[str, object]:
    ok, errors, cns = 0, [], {}  # type: ignore[var-annotated]
    deadline = time.monotonic() + MAX_LOOP_SECONDS
    while not os.path.exists(stopfile) and time.monotonic() < deadline:
        result = once(address, sni, ctx)
        if "error" in result or result["status"] != 200:
            errors.append(result.get("error", result.get("status")))
        else:
            ok += 1
            cns[result["cn"]] = cns.get(result["cn"], 0) + 1
    return {"ok": ok, "errors": errors, "cns": cns}


def main() -> None:
    mode, address, sni, ca = sys.argv[1:5]
    if mode == "once":
        path = sys.argv[5]
        client = sys.argv[6] if len(sys.argv) > 6 else None
        print(json.dumps(once(address, sni, context(ca, client), path)))
    else:
        print(json.dumps(loop(address, sni, context(ca), sys.argv[5])), flush=True)


if __name__ == "__main__":
    main()
