"""The grammars of values that end up in data-plane config files, defined once.

The API validates tenant input against these, and the renderer checks every value against
them again before it writes a line (defence in depth: a row written by an older version,
or by hand, must not reach haproxy.cfg either). Each pattern is meant for `fullmatch`.
"""

from __future__ import annotations

import re

# RFC 3986 path-absolute with an optional query, minus what HAProxy's config syntax gives
# a meaning to (quotes, backslash, `#`, `$`) or what cannot be in a request line
# (whitespace, controls, non-ASCII). `%` only as a complete percent-encoding.
URL_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!&()*+,;=:@/?]|%[0-9A-Fa-f]{2}){0,2047}")
# HTTP status codes: ASCII digits (`\d` would match Arabic-Indic digits too), 100-599.
STATUS_CODE = r"[1-5][0-9]{2}"
EXPECTED_CODES = re.compile(rf"{STATUS_CODE}(?: *, *{STATUS_CODE})*|{STATUS_CODE}-{STATUS_CODE}")
DOMAIN = re.compile(r"(?=.{1,253}$)(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")
COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
# Ids as the API accepts them (hyphens optional, any case) and as nslb makes them.
UUID_INPUT = re.compile(r"[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Paths nslb itself chooses (state dir, sockets, helper scripts): no spaces or quotes.
FILE_PATH = re.compile(r"/[A-Za-z0-9_./-]{0,4095}")
# L7 rule keys: HTTP header and cookie names (RFC 7230 tokens, Octavia's
# HTTP_HEADER_NAME_REGEX) without the single quote: the key is a sample-fetch argument,
# `req.hdr(<key>)`, where HAProxy 2.6 reads `'` as a quote even escaped (found by
# tests/unit/test_render_l7_guard.py); and distinguished-name fields (octavia-lib's).
L7_KEY = re.compile(r"[a-zA-Z0-9!#$%&*+\-.^_`|~]{1,255}")
DN_FIELD = re.compile(r"[a-zA-Z][A-Za-z0-9-]{0,254}")
# Redirect targets: an absolute http(s) URL of printable ASCII without spaces (Octavia
# refuses [\x00-\x20\x7f-\x9f]); what remains is escaped for HAProxy at render time.
REDIRECT_URL = re.compile(r"https?://[!-~]{1,246}")
# A word of an access log line that nslb writes as literal text (a project id): no space,
# quote, backslash, `%` (HAProxy's log-format variables) or `$` (its environment variables).
LOG_TOKEN = re.compile(r"[A-Za-z0-9_.:@+=-]{1,255}")
# What a rendered log-format may hold: its variables, the fields' separators and the
# double quotes around the request field; it is rendered in single (strong) quotes.
LOG_FORMAT = re.compile(r'[A-Za-z0-9_.:@+=%{}\[\]" -]{1,2048}')
# A Unix user or group name (haproxy's `user`/`group`), as useradd accepts them.
SYSTEM_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# OpenSSL cipher strings as Octavia accepts them (VALID_CIPHER_RE): names, `:` lists, `!`
# `+` `-` modifiers and `@STRENGTH`/`@SECLEVEL=n` commands; no space, quote or `#`, so the
# string is one HAProxy word. Whether OpenSSL can use it is checked separately (nslb.tls).
TLS_CIPHERS = re.compile(r"[A-Za-z0-9\-+!:@=_.]{1,2048}")
# TLS protocol versions in Octavia's spelling, and the ALPN protocol ids it supports.
TLS_VERSION = re.compile(r"SSLv3|TLSv1|TLSv1\.1|TLSv1\.2|TLSv1\.3")
ALPN_ID = re.compile(r"h2|http/1\.1|http/1\.0")
