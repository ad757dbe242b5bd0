"""Access logs of UDP listeners: one line per UDP flow, written when the flow ends.

HAProxy logs a TCP connection when it closes; the kernel forwards UDP, so its end is the
end of the flow's conntrack entry (it expires 30 s after the last datagram of a flow that
got no answer, 120 s after one that did, or is deleted when its member goes down). The
UDP agent, in the amphora's namespace, follows those ends (`conntrack -E -e DESTROY`, with
byte accounting and timestamps turned on in the namespace) and sends each flow to a
listener with `connection_logging` to the host's access log socket, as HAProxy does: an
RFC 5424 datagram whose message has Octavia's sixteen tenant flow fields
(nslb.render.logformat), so the collector (nslb.accesslog) files it with the LB's other
lines. Octavia's amphora logs nothing for UDP (IPVS has no flow log).

The fields of a UDP line: the request and the HTTP status are `-` (as for TCP listeners);
bytes read are the payload bytes the member sent back to the client, bytes uploaded those
the client sent; the date is when the flow began; the total time is the flow's lifetime
in milliseconds (whole seconds: conntrack's precision); the member is the one the flow was
sent to, `-` if it is no longer in the view; the termination state is `-`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nslb.render.udp import UdpView

log = logging.getLogger("nslb.udp_agent")
EVENT = re.compile(r"^\[(?P<when>\d+(?:\.\d+)?)\]\s+\[DESTROY\]\s+(?P<body>.*)$")
TUPLE_KEYS = frozenset({"src", "dst", "sport", "dport", "packets", "bytes"})
# IP and UDP headers counted by conntrack in each packet's bytes.
HEADERS = {"ip": 20 + 8, "ip6": 40 + 8}
# Byte counters and flow start times in conntrack entries (per namespace).
SYSCTLS = ("/proc/sys/net/netfilter/nf_conntrack_acct",
           "/proc/sys/net/netfilter/nf_conntrack_timestamp")
SEVERITY_INFO = 16 * 8 + 6  # local0.info, as HAProxy's traffic logs
RESTART_AFTER = 1.0
PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # bound before any fork


def _die_with_the_agent() -> None:
    """In the child, before exec: SIGTERM when the agent's thread that started it is
    gone (a SIGKILLed agent must not leave `conntrack -E` running in the namespace)."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class Flow:
    """One ended flow as conntrack reported it."""

    ended: float  # seconds since the epoch
    client: str
    client_port: int
    vip: str
    port: int
    member: str
    member_port: int
    sent_packets: int
    sent_bytes: int
    answered_packets: int
    answered_bytes: int
    seconds: int | None  # lifetime, when conntrack keeps timestamps


def parse(line: str) -> Flow | None:
    """A `conntrack -E -o timestamp` DESTROY line, or None for anything else."""
    match = EVENT.match(line.strip())
    if match is None:
        return None
    orig: dict[str, str] = {}
    reply: dict[str, str] = {}
    extra: dict[str, str] = {}
    for token in match["body"].split():
        key, sep, value = token.partition("=")
        if not sep:
            continue
        if key in TUPLE_KEYS:
            (reply if key in orig else orig)[key] = value
        else:
            extra[key] = value
    try:
        return Flow(ended=float(match["when"]), client=orig["src"],
                    client_port=int(orig["sport"]), vip=orig["dst"], port=int(orig["dport"]),
                    member=reply["src"], member_port=int(reply["sport"]),
                    sent_packets=int(orig.get("packets", 0)),
                    sent_bytes=int(orig.get("bytes", 0)),
                    answered_packets=int(reply.get("packets", 0)),
                    answered_bytes=int(reply.get("bytes", 0)),
                    seconds=int(extra["delta-time"]) if "delta-time" in extra else None)
    except (KeyError, ValueError):
        return None


def _payload(total: int, packets: int, family: str) -> str:
    return str(max(total - packets * HEADERS[family], 0)) if packets else "0"


def fields(view: UdpView, flow: Flow) -> str | None:
    """The sixteen fields of the flow's line, or None when its listener does not log."""
    if flow.vip != view.vip:
        return None
    listener = next((li for li in view.listeners if li.port == flow.port and li.log), None)
    if listener is None:
        return None
    pool = next((p for p in view.pools if p.id == listener.pool_id), None)
    member = next((m.id for m in (pool.members if pool else ())
                   if (m.address, m.port) == (flow.member, flow.member_port)), "-")
    began = flow.ended - (flow.seconds or 0)
    date = datetime.fromtimestamp(began, UTC).strftime("%d/%b/%Y:%H:%M:%S.%f")[:-3]
    total = "-" if flow.seconds is None else str(flow.seconds * 1000)
    return " ".join((
        view.project, view.lb_id, listener.id, flow.client, str(flow.client_port), date,
        "-", "-", _payload(flow.answered_bytes, flow.answered_packets, view.family),
        _payload(flow.sent_bytes, flow.sent_packets, view.family), "-", '""',
        pool.id if pool else "-", member, total, "-"))


def datagram(amphora_id: str, ended: float, text: str) -> bytes:
    """What HAProxy would send: RFC 5424, the amphora id as the host name."""
    stamp = datetime.fromtimestamp(ended, UTC).isoformat()
    return f"<{SEVERITY_INFO}>1 {stamp} {amphora_id} nslb-udp {os.getpid()} - - {text}".encode()


class FlowLog:
    """Follows the ends of UDP flows in the agent's namespace while some listener logs."""

    def __init__(self, amphora_id: str, conntrack: str) -> None:
        self.amphora_id = amphora_id
        self.conntrack = conntrack
        self.view: UdpView | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def follow(self, view: UdpView) -> None:
        """Serve this view's listeners: start following flows when one of them logs, stop
        when none does."""
        self.view = view
        wanted = view.log_socket is not None and any(li.log for li in view.listeners)
        if wanted and self.thread is None:
            for path in SYSCTLS:
                with contextlib.suppress(OSError):
                    Path(path).write_text("1\n")
            self.stopping.clear()
            self.thread = threading.Thread(target=self._run, name="udp-flowlog", daemon=True)
            self.thread.start()
        elif not wanted and self.thread is not None:
            self.stop()

    def stop(self) -> None:
        self.stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.proc = subprocess.Popen(
                [self.conntrack, "-E", "-e", "DESTROY", "-p", "udp", "-o", "timestamp"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                preexec_fn=_die_with_the_agent)  # only prctl runs there
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.handle(line)
            self.proc.wait()
            if not self.stopping.wait(RESTART_AFTER):
                log.warning("conntrack -E ended (%s); following flows again",
                            self.proc.returncode)

    def handle(self, line: str) -> None:
        view, flow = self.view, parse(line)
        if view is None or flow is None or view.log_socket is None:
            return
        text = fields(view, flow)
        if text is None:
            return
        # Fire and forget, as HAProxy's logs: a collector that is behind or gone loses
        # lines, never slows the agent.
        with contextlib.suppress(OSError):
            self.sock.sendto(datagram(self.amphora_id, flow.ended, text), view.log_socket)
