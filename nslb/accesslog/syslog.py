"""Access log lines to the host's syslog (`--access-log syslog`) instead of files.

Sent to /dev/log as facility local0, severity info, tag `nslb-access`; the syslog daemon
owns files and rotation then. A syslog that is not running drops lines (a datagram to a
socket nobody reads), it never blocks the collector.
"""

from __future__ import annotations

import socket

DEV_LOG = "/dev/log"
PRIORITY = 16 * 8 + 6  # local0.info


class SyslogSink:
    def __init__(self, address: str = DEV_LOG) -> None:
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self.dropped = 0
        self.prefix = f"<{PRIORITY}>nslb-access: ".encode("ascii")

    def write_lines(self, lb_id: str, data: bytes) -> None:
        """One datagram per line (`data`: whole lines, each ending in a newline)."""
        for line in data.splitlines():
            try:
                self._socket.sendto(self.prefix + line, self.address)
            except OSError:
                self.dropped += 1

    def flush(self) -> None:
        """Nothing is buffered: every line is its own datagram."""

    def close(self) -> None:
        self._socket.close()
