"""The access log format: Octavia's tenant flow log, as HAProxy `log-format` words.

Octavia's default `[haproxy_amphora] user_log_format` is

    {{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify]
    %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc

and its amphora driver replaces the request line and the status with `-` for TCP
listeners. nslb keeps the sixteen fields in that order, so a parser written for Octavia's
logs reads nslb's, with one deliberate difference: the request field is
`"<method> <path> <version>"` (HAProxy's `%HM %HPO %HV`), not the raw request line `%r`.
`%r` carries the query string and, for an absolute URI, the authority with any
`user:password@`, and both are where clients put tokens and passwords. `%HPO` is the path
alone. No header, cookie or body is ever logged (HAProxy logs none unless told to capture
them, and nothing here does). The frontend, backend and server names HAProxy prints
(`%f`, `%b`, `%s`) are already Octavia ids: listener, pool, member.

Pure: the words are data; nslb.render.values escapes them for haproxy.cfg.
"""

from __future__ import annotations

# The fields of one line, in order (Octavia's "Tenant Flow Log Format" documentation).
FIELDS = (
    "project_id", "loadbalancer_id", "listener_id", "client_ip", "client_port",
    "date_time", "request_string", "http_status", "bytes_read", "bytes_uploaded",
    "client_certificate_verify", "client_certificate_dn", "pool_id", "member_id",
    "processing_time", "termination_state",
)

# Field -> HAProxy log-format variable, for the fields HAProxy fills in.
HTTP_VARIABLES = {
    "listener_id": "%f",
    "client_ip": "%ci",
    "client_port": "%cp",
    "date_time": "%t",
    "request_string": '"%HM %HPO %HV"',
    "http_status": "%ST",
    "bytes_read": "%B",
    "bytes_uploaded": "%U",
    "client_certificate_verify": "%[ssl_c_verify]",
    "client_certificate_dn": "%{+Q}[ssl_c_s_dn]",
    "pool_id": "%b",
    "member_id": "%s",
    "processing_time": "%Tt",
    "termination_state": "%tsc",
}
# TCP listeners have no request and no status (HAProxy refuses HTTP variables there).
TCP_VARIABLES = {**HTTP_VARIABLES, "request_string": "-", "http_status": "-"}


def log_format_words(project_id: str, loadbalancer_id: str, http: bool) -> list[str]:
    """The format as one entry per field; `project_id` and `loadbalancer_id` are literal
    text (already checked by the caller), everything else is HAProxy's to fill."""
    variables = HTTP_VARIABLES if http else TCP_VARIABLES
    literal = {"project_id": project_id, "loadbalancer_id": loadbalancer_id}
    return [literal[name] if name in literal else variables[name] for name in FIELDS]
