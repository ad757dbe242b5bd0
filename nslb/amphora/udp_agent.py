"""The UDP agent of one amphora: a small daemon inside the amphora's namespace that keeps the
kernel's UDP data path (the `nslb_udp` nftables table) true to the bundle and to the
members' health. It is what keepalived's checkers are to IPVS in Octavia's amphora, and
like haproxy it runs without nslb: nslb starts it, signals it, and reads its files.

- `udp.json` (written by the namespace driver, read on start and on SIGHUP) is the
  validated view (nslb.render.udp.UdpView).
- Members of monitored pools are checked every `delay` seconds (udp_checks); after
  `max_retries_down` failures in a row a member is DOWN and the table is replaced without
  it (one `nft -f` transaction), and its conntrack entries are deleted so its flows move
  at once instead of when they time out. After `max_retries` successes it is back.
- Flows of listeners with `connection_logging` are logged when they end
  (nslb.amphora.udp_flowlog), to the host's access log socket.
- `udp-status.json` holds the hash of the view loaded and every object's status in
  HAProxy's words (the health room maps them as for haproxy); it is rewritten only when
  something changed. `udp-counters.json` holds per-listener counters, rewritten every
  COUNTERS_EVERY seconds by a thread of their own (counting the flows of a busy VIP, up
  to hundreds of thousands of conntrack entries, must never hold up a reload or a
  check); counters survive the table replacements the agent makes.

Run as `python -m nslb.amphora.udp_agent <amphora dir>` inside the namespace, as root.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nslb.amphora import udp_checks
from nslb.amphora.udp_flowlog import FlowLog
from nslb.render import udp as rules
from nslb.render.udp import MemberView, MonitorView, UdpView, view_hash

log = logging.getLogger("nslb.udp_agent")
VIEW = "udp.json"
STATUS = "udp-status.json"
COUNTERS = "udp-counters.json"
PIDFILE = "udp-agent.pid"
NFT = "/usr/sbin/nft"
CONNTRACK = "/usr/sbin/conntrack"
TICK = 0.05
# Counters (one `nft -j list table`) are written this often; the health loop folds them
# in at least every 5 s.
COUNTERS_EVERY = 5.0
CHECK_THREADS = 16


@dataclass
class Health:
    """One monitored member: up or down, and the run of results that may flip it."""

    target: tuple[str, int, MonitorView]
    up: bool = True
    successes: int = 0
    failures: int = 0
    due: float = 0.0
    running: Future[bool] | None = None

    def record(self, ok: bool, monitor: MonitorView) -> bool:
        """Fold one result in; True when the member's state flipped."""
        if ok:
            self.failures, self.successes = 0, self.successes + 1
            if not self.up and self.successes >= monitor.rise:
                self.up = True
                return True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.up and self.failures >= monitor.fall:
                self.up = False
                return True
        return False


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Agent:
    def __init__(self, directory: Path, nft: str = NFT, conntrack: str = CONNTRACK) -> None:
        self.dir = directory
        self.nft = nft
        self.conntrack = conntrack
        self.view: UdpView | None = None
        self.hash = ""
        self.health: dict[str, Health] = {}
        self.served: set[tuple[str, int]] = set()  # member endpoints the rules send flows to
        self.base: dict[str, dict[str, int]] = {}  # counters of the tables replaced so far
        self.last_status = ""
        self.reload_wanted = True
        self.stopping = False
        self.pool = ThreadPoolExecutor(max_workers=CHECK_THREADS)
        self.flowlog = FlowLog(directory.name, conntrack)
        # load_rules (replace the table, fold its counters) and the counters thread (read
        # them) take turns; the thread asks the loop to load a table that is gone.
        self.table_lock = threading.Lock()
        self.table_gone = False
        self.counters_stop = threading.Event()

    # --- the view and the rules ---------------------------------------------------------

    def reload(self) -> None:
        """Load udp.json (again); keep what is known of members whose check is unchanged."""
        text = (self.dir / VIEW).read_text()
        digest = view_hash(text)
        if digest == self.hash:
            return
        view = UdpView.from_json(text)
        health: dict[str, Health] = {}
        for pool in view.pools:
            if pool.monitor is None:
                continue
            for m in pool.members:
                target = (m.monitor_address, m.monitor_port, pool.monitor)
                known = self.health.get(m.id)
                health[m.id] = known if known is not None and known.target == target \
                    else Health(target)
        self.view, self.hash, self.health = view, digest, health
        self.load_rules()
        self.flowlog.follow(view)

    def down(self) -> frozenset[str]:
        return frozenset(mid for mid, h in self.health.items() if not h.up)

    def load_rules(self) -> None:
        """Replace the table (one transaction), then move the flows of members that no
        longer get traffic."""
        assert self.view is not None
        down = self.down()
        with self.table_lock:
            table = self.read_table()
            self.fold_counters(table)
            text = rules.render_udp(self.view, down, kept=table[1] if table else None)
            result = subprocess.run([self.nft, "-f", "-"], input=text, capture_output=True,
                                    text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"nft refused the rules: {result.stderr.strip()[:500]}")
        served = {(m.address, m.port) for p in self.view.pools for m in p.members
                  if m.enabled and m.id not in down}
        for address, port in sorted(self.served - served):
            self.forget_flows(address, port)
        self.served = served
        self.write_status()

    def forget_flows(self, address: str, port: int) -> None:
        """Delete the conntrack entries of flows DNATed to a member that is gone or down,
        so their next datagram is a new flow that the rules send elsewhere."""
        family = "ipv6" if ":" in address else "ipv4"
        subprocess.run([self.conntrack, "-D", "-f", family, "-p", "udp", "--reply-src",
                        address, "--reply-port-src", str(port)], capture_output=True,
                       timeout=30, check=False)
        log.info("flows to %s port %d deleted", address, port)

    # --- health ---------------------------------------------------------------------------

    def check(self, now: float) -> bool:
        """Start the checks that are due, fold in the finished ones; True when a member
        changed state."""
        assert self.view is not None
        flipped = False
        for pool in self.view.pools:
            if pool.monitor is None:
                continue
            for m in pool.members:
                h = self.health[m.id]
                if h.running is not None and h.running.done():
                    ok = h.running.result()
                    h.running = None
                    if h.record(ok, pool.monitor) and m.enabled:
                        log.warning("member %s %s:%d is %s", m.id, m.address, m.port,
                                    "UP" if h.up else "DOWN")
                        flipped = True
                if h.running is None and now >= h.due and m.enabled:
                    h.due = now + pool.monitor.delay
                    h.running = self.pool.submit(udp_checks.run, pool.monitor,
                                                 m.monitor_address, m.monitor_port)
        return flipped

    def member_status(self, m: MemberView, monitored: bool) -> str:
        if not m.enabled:
            return "MAINT"
        if monitored and not self.health[m.id].up:
            return "DOWN"
        if m.weight == 0:
            return "DRAIN"
        return "UP" if monitored else "no check"

    def statuses(self) -> dict[str, object]:
        assert self.view is not None
        down = self.down()
        members = {m.id: self.member_status(m, p.monitor is not None)
                   for p in self.view.pools for m in p.members}
        return {
            "hash": self.hash,
            "listeners": {li.id: "OPEN" if li.enabled else "STOP" for li in self.view.listeners},
            "pools": {p.id: "UP" if rules.usable(p, down) else "DOWN" for p in self.view.pools},
            "members": members,
        }

    def write_status(self) -> None:
        text = json.dumps(self.statuses(), sort_keys=True)
        if text != self.last_status:
            write_atomically(self.dir / STATUS, text)
            self.last_status = text

    # --- counters -------------------------------------------------------------------------

    def read_table(self) -> tuple[dict[str, int], dict[str, list[tuple[object, object]]]] | None:
        """The table's named counters (name -> packets for new_*, which count flows, else
        bytes) and its persistence sets' entries (name -> (key, seconds left)); None when
        the table is not there."""
        result = subprocess.run([self.nft, "-j", "list", "table", "inet", rules.TABLE],
                                capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            return None
        try:
            items = json.loads(result.stdout).get("nftables", [])
        except ValueError:
            return None
        counters: dict[str, int] = {}
        sets: dict[str, list[tuple[object, object]]] = {}
        for item in items:
            if counter := item.get("counter"):
                name = counter["name"]
                counters[name] = counter["packets"] if name.startswith("new_") \
                    else counter["bytes"]
            elif (found := item.get("set")) and found.get("elem"):
                sets[found["name"]] = [(e["elem"]["val"], e["elem"].get("expires", 0))
                                       for e in found["elem"] if isinstance(e, dict)
                                       and isinstance(e.get("elem"), dict)]
        return counters, sets

    def read_counters(self) -> dict[str, int] | None:
        table = self.read_table()
        return None if table is None else table[0]

    def fold_counters(self, table: tuple[dict[str, int], object] | None) -> None:
        """Before the table is replaced (which zeroes its counters), keep what it counted."""
        for name, value in (table[0] if table else {}).items():
            self.base.setdefault("total", {})[name] = \
                self.base.get("total", {}).get(name, 0) + value

    def active_flows(self, view: UdpView) -> dict[int, int]:
        """Flows to the VIP by destination port, from the namespace's conntrack table.
        `conntrack -L` selects and prints them (C); a busy VIP has hundreds of thousands,
        which a netlink dump parsed in Python took tens of seconds to read."""
        family = "ipv6" if view.family == "ip6" else "ipv4"
        flows: dict[int, int] = {}
        try:  # read as it comes: the listing of a busy VIP is tens of megabytes
            with subprocess.Popen([self.conntrack, "-L", "-f", family, "-p", "udp",
                                   "--orig-dst", view.vip], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True) as proc:
                assert proc.stdout is not None
                for line in proc.stdout:
                    _, found, rest = line.partition(" dport=")  # the original direction's
                    if found:
                        port = int(rest.split(" ", 1)[0])
                        flows[port] = flows.get(port, 0) + 1
        except (OSError, ValueError):
            log.exception("reading the conntrack table failed")
            return {}
        return flows

    def write_counters(self) -> None:
        view = self.view
        assert view is not None
        with self.table_lock:
            now = self.read_counters()
            base = dict(self.base.get("total", {}))
        if now is None:  # someone deleted the table: the loop serves it again
            log.warning("the %s table is gone; loading it again", rules.TABLE)
            self.table_gone = True
            now = {}
        flows = self.active_flows(view)
        out = {}
        for li in view.listeners:
            new, inbound, outbound = rules.counter_names(li.id)
            out[li.id] = {
                "total_connections": base.get(new, 0) + now.get(new, 0),
                "bytes_in": base.get(inbound, 0) + now.get(inbound, 0),
                "bytes_out": base.get(outbound, 0) + now.get(outbound, 0),
                "active_connections": flows.get(li.port, 0) if li.enabled else 0,
                "request_errors": 0,
            }
        write_atomically(self.dir / COUNTERS, json.dumps(out, sort_keys=True))

    # --- the loop -------------------------------------------------------------------------

    def count(self) -> None:
        """The counters thread: write them every COUNTERS_EVERY seconds (the first time
        once the view is loaded)."""
        wait = TICK
        while not self.counters_stop.wait(wait):
            if self.view is None:
                continue
            wait = COUNTERS_EVERY
            try:
                self.write_counters()
            except Exception:
                log.exception("writing the counters failed")

    def run(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: setattr(self, "reload_wanted", True))
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        write_atomically(self.dir / PIDFILE, f"{os.getpid()}\n")
        counting = threading.Thread(target=self.count, name="udp-counters", daemon=True)
        counting.start()
        while not self.stopping:
            if self.reload_wanted:
                self.reload_wanted = False
                try:
                    self.reload()
                except Exception:
                    log.exception("udp.json could not be loaded; keeping the rules served")
            if self.view is not None and (self.check(time.monotonic()) or self.table_gone):
                self.table_gone = False
                self.load_rules()
            time.sleep(TICK)
        self.counters_stop.set()
        self.flowlog.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    Agent(Path(sys.argv[1])).run()


if __name__ == "__main__":
    main()
