"""Small helper programs the data plane runs, installed under `<state-dir>/bin/`.

They are run by haproxy (PING monitors, as the haproxy account) and by keepalived (as the
haproxy account too: `script_user`), so the directory is root-owned and traversable, and
the files are root-owned 0755: keepalived's `enable_script_security` refuses scripts in
paths an unprivileged user could write.
"""

from __future__ import annotations

import os
from pathlib import Path

from nslb.render import ping_wrapper_path
from nslb.render.keepalived import (
    check_script_path,
    notify_script_path,
    udp_check_script_path,
)

PING_WRAPPER = """#!/bin/sh
# haproxy external-check for Octavia PING monitors: argv[3] is the server address.
case "$3" in
  *:*) exec /bin/ping -6 -q -n -w 1 -c 1 "$3" >/dev/null 2>&1 ;;
  *) exec /bin/ping -q -n -w 1 -c 1 "$3" >/dev/null 2>&1 ;;
esac
"""

VRRP_CHECK = """#!/bin/sh
# keepalived's check of an ACTIVE_STANDBY amphora: haproxy answers on its stats socket ($1)
# or, should that file have been deleted, through its master CLI ($2).
{ echo "show info" | /usr/bin/socat -t1 - "UNIX-CONNECT:$1" 2>/dev/null ||
  echo "@1 show info" | /usr/bin/socat -t1 - "UNIX-CONNECT:$2" 2>/dev/null; } |
  grep -q '^Pid:'
"""

UDP_CHECK = """#!/bin/sh
# keepalived's check of the UDP data path (run as root: nft needs CAP_NET_ADMIN): the nft
# table is loaded in this namespace and the UDP agent ($1: its pid file) runs.
/usr/sbin/nft list chain inet nslb_udp prerouting >/dev/null 2>&1 &&
  pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
"""

VRRP_NOTIFY = """#!/bin/sh
# keepalived's notify: record the amphora's new VRRP state. $1 is the state file; keepalived
# appends: INSTANCE|GROUP, the instance name, the state, the priority.
printf '%s\\n' "$4" > "$1.tmp" && mv -f "$1.tmp" "$1"
"""


def install(state_dir: Path) -> None:
    """Write the helpers (idempotent) and make their path traversable for haproxy's account."""
    scripts = {ping_wrapper_path(state_dir): PING_WRAPPER,
               check_script_path(state_dir): VRRP_CHECK,
               notify_script_path(state_dir): VRRP_NOTIFY,
               udp_check_script_path(state_dir): UDP_CHECK}
    directory = ping_wrapper_path(state_dir).parent
    directory.mkdir(parents=True, exist_ok=True)
    for path in (state_dir, directory):
        path.chmod(path.stat().st_mode | 0o755)
    for path, text in scripts.items():
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, path)
