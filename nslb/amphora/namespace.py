"""The `namespace` driver: every amphora is a haproxy in its own netns on this host.

apply() is level-triggered and doubles as the supervisor: it converges namespace, links and
process to the bundle, repairing whatever vanished, and does nothing when the running
haproxy already confirmed this bundle (so a restarted nslb adopts running haproxies without
touching traffic). "Confirmed" is a marker written only after haproxy took the change
(start, reload or runtime API), never before: a change that failed half-way is retried.

The worker re-applies every converged amphora every resync interval, so that case must be
cheap (at 1,000 amphorae, 100 a second): the confirmation, the processes (pid files and
/proc, no socket) and the plumbing as the host sees it (nslb.netns.verify: one host
netlink socket, no namespace entered) are checked first, and only when something differs
does apply take the full path, which enters the namespace and repairs.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from nslb import netns
from nslb.amphora import layout, runtime_api, scripts, tls_files
from nslb.amphora.base import (
    ApplyError,
    ConfigRejected,
    ListenerCounters,
    Observation,
    superseded,
)
from nslb.amphora.haproxy_process import (
    HAPROXY,
    HAPROXY_USER,
    HaproxyProcess,
    process_start_time,
    summarise_stat,
)
from nslb.amphora.keepalived_process import KeepalivedProcess
from nslb.amphora.lifelines import Lifelines
from nslb.amphora.udp_process import UdpAgentProcess
from nslb.interpreter import let_others_run
from nslb.metrics.registry import Metrics
from nslb.model import vxlan as vxlan_values
from nslb.model.bundle import Bundle, HostFacts, NetworkPort
from nslb.netns import connections, nftables, verify, vxlan
from nslb.netns.announcer import Announcer
from nslb.netns.bridges import BridgeFull, BridgeRegistry, prune_bridges
from nslb.netns.inspect import Netlink
from nslb.netns.names import port_key
from nslb.netns.namespaces import NETNS_DIR
from nslb.netns.sysctl import (
    NAMESPACE_SYSCTLS,
    PAIR_SYSCTLS,
    raise_host_limits,
    set_in_namespace,
)
from nslb.render.bundle import UDP_RULES, UDP_VIEW
from nslb.render.handover import HOLD, handover_address
from nslb.render.handover import TABLE as GATE_TABLE
from nslb.render.haproxy import amphora_dir
from nslb.render.udp import view_hash

log = logging.getLogger(__name__)

# sun_path is 108 bytes and haproxy keeps a little for itself: "<state>/amp/<uuid>/master.sock"
MAX_SOCKET_PATH = 97
CONFIRMED = "applied.json"
# An amphora serving UDP forwards the flows its nftables rules DNAT to members (only those:
# the table's forward chain drops everything else).
UDP_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}
# How long an apply waits for the UDP agent to serve a new view.
UDP_AGENT_WAIT = 10.0
# How long a pair member on its way out (failover) keeps its VIP for the connections it
# still serves, new ones held back (nslb.render.handover), before it hands the VIP over
# anyway. A held-back client sends its SYN again after 1 s and 3 s: this plus the VRRP
# takeover stays well within that, so no held-back client gives up.
DRAIN_SECONDS = 2.0
DRAIN_POLL = 0.01
HANDOVER = "handover.nft"


def port_plan(port: NetworkPort, bridge: str,
              segment: vxlan.SegmentPlan | None = None) -> netns.PortPlan:
    """What netns needs to plug one port of a bundle (`segment` for a VXLAN port)."""
    return netns.PortPlan(port_id=port.port_id, bridge=bridge, mtu=port.mtu,
                          addresses=port.addresses, mac=port.mac,
                          vlan=port.segmentation_id if segment is None else None,
                          gateway=port.gateway, host_routes=port.host_routes,
                          floating=port.floating, vxlan=segment,
                          neighbours=tuple((p.address, p.mac) for p in port.peers))


class NamespaceDriver:
    name = "namespace"

    def __init__(self, state_dir: Path, physnets: dict[str, str],
                 haproxy: str = HAPROXY, haproxy_user: str = HAPROXY_USER,
                 access_logs: bool = False, metrics: Metrics | None = None,
                 underlay_address: str = "") -> None:
        """`access_logs`: the listeners log to the host's access log socket (a collector,
        nslb.accesslog, reads it). `metrics`: where starts, reloads, runtime-API changes,
        rollbacks and refused configurations are counted. `underlay_address`: this host's
        address for VXLAN networks (their vxlan devices' local end); without one, a
        bundle with a VXLAN port is refused."""
        self.state_dir = Path(state_dir)
        self.metrics = metrics or Metrics()
        longest = len(str(amphora_dir(self.state_dir, "x" * 36) / "master.sock"))
        if longest > MAX_SOCKET_PATH:
            raise ValueError(f"state dir {state_dir} is too long for haproxy's unix sockets "
                             f"(at most {MAX_SOCKET_PATH - longest + len(str(state_dir))} chars)")
        self.physnets = physnets
        self.haproxy = haproxy
        try:
            pwd.getpwnam(haproxy_user)
        except KeyError:
            raise ValueError(f"haproxy runs as the unprivileged user {haproxy_user!r}, which "
                             "does not exist (Debian's haproxy package creates it)") from None
        self.haproxy_user = haproxy_user
        self.access_logs = access_logs
        self.bridges = BridgeRegistry(self.state_dir / "bridges.json")
        self.underlay_address = (vxlan_values.check_address(underlay_address)
                                 if underlay_address else "")
        # amphora id -> {VNI: the hosts its bundle floods to}: a host floods a network to
        # the union of what the bundles of its amphorae on it say (one bundle rendered
        # before a host joined the network must not cut that host off).
        self._floods: dict[str, dict[int, tuple[str, ...]]] = {}
        # amphora id -> {VNI: (peer MAC, its host's underlay address)}: the static fdb
        # entries of a VNI's device are the union of its amphorae' peers, likewise.
        self._statics: dict[str, dict[int, tuple[tuple[str, str], ...]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # amphora id -> (the bundle last applied, its hash): the worker hands the same
        # bundle object to every converged resync, and hashing one costs more than
        # checking the amphora.
        self._digests: dict[str, tuple[Bundle, str]] = {}
        # amphora id -> (runs keepalived, serves UDP) as its directory said (_found)
        self._found_on_disk: dict[str, tuple[bool, bool]] = {}
        # amphora id -> (counters last observed, the start time of the worker that had
        # them): `show info` is asked only when the counters moved.
        self._starts: dict[str, tuple[dict[str, ListenerCounters], float]] = {}
        # amphora id -> its process handles (paths only; building them costs more than a
        # converged check)
        self._handles: dict[str, tuple[HaproxyProcess, KeepalivedProcess]] = {}
        self._udp_agents: dict[str, UdpAgentProcess] = {}
        # amphora id -> (its haproxy master, its keepalived or 0), as last found
        self._masters: dict[str, tuple[int, int]] = {}
        # whether those still run (asked by the health loop's thread only)
        self._lifelines = Lifelines()
        self._announcer = Announcer()
        # amphora id -> (identity of its applied.json, the hash in it)
        self._confirmations: dict[str, tuple[tuple[int, int, int], str | None]] = {}
        self._netlink: Netlink | None = None
        scripts.install(self.state_dir)
        layout.adopt_legacy_layout(self.state_dir)
        raise_host_limits()

    # --- Protocol -------------------------------------------------------------------------

    def facts(self) -> HostFacts:
        return HostFacts(host=socket.gethostname(), state_dir=str(self.state_dir),
                         fd_limit=fd_limit(), haproxy_user=self.haproxy_user,
                         access_logs=self.access_logs, underlay_address=self.underlay_address)

    def apply(self, bundle: Bundle) -> str:
        with self._lock(bundle.amphora_id):
            try:
                return self._apply(bundle)
            except ApplyError:
                raise
            except BridgeFull as exc:  # retrying cannot make room: ERROR now, not in 31 s
                raise ConfigRejected(str(exc)) from exc
            except Exception as exc:  # netlink, filesystem, process: all mean "not applied"
                log.exception("apply of amphora %s failed", bundle.amphora_id)
                raise ApplyError(f"{type(exc).__name__}: {exc}") from exc

    def delete(self, amphora_id: str) -> None:
        with self._lock(amphora_id):
            keepalived = self._keepalived(amphora_id)
            self._drain(amphora_id)  # it finishes what its listeners accepted...
            keepalived.stop()  # ...then a pair member hands the VIP to its peer
            self._udp_agent(amphora_id).stop()
            self._process(amphora_id).stop()
            namespace = netns.namespace_name(amphora_id)
            for key in netns.plugged_port_prefixes(namespace):
                netns.unplug(namespace, key)
            netns.delete_namespace(namespace)
            shutil.rmtree(amphora_dir(self.state_dir, amphora_id), ignore_errors=True)
            layout.remove_legacy_link(self.state_dir, amphora_id)
            self._floods.pop(amphora_id, None)
            self._statics.pop(amphora_id, None)
            vxlan.prune_segments(self.bridges)
            prune_bridges(self.bridges)
            for cache in (self._digests, self._starts, self._handles, self._masters,
                          self._udp_agents, self._confirmations, self._found_on_disk):
                cache.pop(amphora_id, None)

    def _gate(self, namespace: str, rules: str | None, kept: Path) -> None:
        """Load the VIP's gate (nslb.render.handover): a new connection no haproxy
        listener takes is dropped, so its client retries instead of failing. A bundle
        without one (a STANDALONE amphora whose listeners are all gone or disabled) removes
        the gate its last one loaded (`kept`), so those ports refuse again. Without it
        the amphora still serves, so a refusal is logged, not raised."""
        if rules is None:
            if not kept.exists():
                return
            rules = f"table inet {GATE_TABLE} {{}}\ndelete table inet {GATE_TABLE}\n"
        try:
            nftables.load(namespace, rules)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("%s: the VIP's gate was not loaded: %s", namespace, exc)

    def _drain(self, amphora_id: str) -> None:
        """Before an amphora goes (a pair member gives its VIP away, a STANDALONE one
        makes room for its replacement): hold new connections back (their SYNs are
        dropped, so clients send them again, to the peer or the replacement by then) and
        wait, at most DRAIN_SECONDS, until the connections its listeners accepted are
        done. A connection still open when the VIP moves breaks (nslb.render.handover
        says why). Nothing to wait for without a gate or a namespace."""
        directory = amphora_dir(self.state_dir, amphora_id)
        namespace = netns.namespace_name(amphora_id)
        try:
            rules = (directory / HANDOVER).read_text()
        except OSError:
            return  # an amphora applied by an older nslb: nothing to hold back with
        vip = handover_address(rules)
        if vip is None or not netns.namespace_exists(namespace):
            return
        try:
            nftables.load(namespace, rules + HOLD)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("amphora %s: could not hold new connections back before its "
                        "hand-over: %s", amphora_id, exc)
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            try:
                left = connections.in_flight(namespace, (vip,))
            except OSError as exc:
                log.warning("amphora %s: cannot count its connections: %s", amphora_id, exc)
                return
            if left == 0:
                return
            if time.monotonic() > deadline:
                log.warning("amphora %s: %d connections still open after %.0f s; handing "
                            "the VIP over anyway", amphora_id, left, DRAIN_SECONDS)
                return
            time.sleep(DRAIN_POLL)

    def observe(self, amphora_id: str) -> Observation:
        """What the health loop asks of an amphora as often as its health monitors look:
        one `show stat` round trip. An amphora whose namespace was deleted counts as not
        running, so the health loop has it repaired at once."""
        proc = self._process(amphora_id)
        if not netns.namespace_exists(proc.namespace):
            return Observation(running=False)
        try:
            text = proc.worker_command("show stat")
        except OSError:
            return Observation(running=False)
        return self._observation(amphora_id, proc, text)

    def observe_many(self, amphora_ids: list[str]) -> dict[str, Observation]:
        """observe() of many amphorae from one thread: every `show stat` is sent before
        any answer is read (runtime_api.commands). An amphora whose stats socket did not
        answer so is observed by itself, with observe()'s fallbacks (the master CLI)."""
        procs = {a: self._process(a) for a in amphora_ids}
        answers = runtime_api.commands(
            {a: p.stats_sock for a, p in procs.items() if netns.namespace_exists(p.namespace)},
            "show stat")
        out = {}
        for n, a in enumerate(amphora_ids):
            let_others_run(n)  # parsing 200 answers is ~15 ms of pure Python
            out[a] = self._observation(a, procs[a], answers[a]) if a in answers \
                else self.observe(a)
        return out

    def _observation(self, amphora_id: str, proc: HaproxyProcess, text: str) -> Observation:
        """An Observation from the answer to `show stat`. The worker's start time (which
        tells the stats fold that counters were reset) is asked for (`show info`) only
        when the counters moved, since an unchanged reading is never folded."""
        try:
            summary = summarise_stat(text)
            started = self._started(amphora_id, proc, summary.counters)
        except OSError:
            return Observation(running=False)
        keepalived = self._keepalived(amphora_id)
        vrrp = "" if self._single(amphora_id) or not keepalived.config.exists() \
            else keepalived.state()
        observation = Observation(running=True, listeners=summary.listeners,
                                  pools=summary.pools, members=summary.members,
                                  # a copy: _with_udp adds the UDP agent's counters,
                                  # and _started keeps haproxy's own to compare with
                                  counters=dict(summary.counters), process_start=started,
                                  vrrp=vrrp,
                                  traffic=summary.traffic, member_stats=summary.member_stats)
        return self._with_udp(amphora_id, observation)

    def _with_udp(self, amphora_id: str, observation: Observation) -> Observation:
        """Add what the UDP agent reports (statuses in HAProxy's words, counters). An
        amphora that should serve UDP but whose agent is gone is not running: the health
        loop has it repaired at once."""
        if self._without_udp(amphora_id):
            return observation
        agent = self._udp_agent(amphora_id)
        if not agent.view.exists():
            return observation
        if agent.pid() is None:
            return Observation(running=False, vrrp=observation.vrrp)
        status = agent.status()
        observation.listeners.update(status.get("listeners", {}))
        observation.pools.update(status.get("pools", {}))
        observation.members.update(status.get("members", {}))
        observation.counters.update(agent.counters())
        return observation

    def liveness(self, amphora_ids: Iterable[str]) -> dict[str, object]:
        """A token per amphora that changes when its processes or namespace change, None
        when it does not run (no namespace, or no live haproxy master): the health loop
        observes an amphora whose token is unchanged only as often as its health monitor
        needs, and at once when it moved. Asked for every amphora every second, so no
        socket and almost no system call per amphora: one listing of the namespaces, one
        poll() of the processes' pidfds (lifelines.py), a stat() of the VRRP and UDP
        status files only where there are such."""
        try:  # a namespace made again is a new file, so its entry's inode changes
            namespaces = {e.name: e.inode() for e in os.scandir(NETNS_DIR)}
        except FileNotFoundError:
            namespaces = {}
        self._lifelines.refresh()
        return {a: self._token(a, namespaces) for a in amphora_ids}

    def _token(self, amphora_id: str, namespaces: dict[str, int]) -> tuple[object, ...] | None:
        proc, keepalived = self._handles_of(amphora_id)
        namespace = namespaces.get(proc.namespace)
        if namespace is None:
            return None
        # An amphora whose last bundle has no keepalived (STANDALONE) has no VRRP files to
        # look at: two failing stat() calls and an exception saved per amphora and round.
        single = self._single(amphora_id)
        alive = self._lifelines.alive
        known = self._masters.get(amphora_id)
        if known is None or not all(alive(pid) for pid in known if pid) \
                or (not single and not known[1] and keepalived.pidfile.exists()):
            master = proc.master_pid()
            if master is None:
                return None
            known = (master, 0 if single else keepalived.pid() or 0)
            self._masters[amphora_id] = known
        udp: object = None
        if not self._without_udp(amphora_id):
            try:  # the UDP agent rewrites its status file when a status changes
                udp = self._udp_agent(amphora_id).statusfile.stat().st_mtime_ns
            except OSError:
                udp = None
        if single:
            return namespace, known, None, udp
        try:  # keepalived's notify script rewrites the file on every VRRP transition
            vrrp: object = keepalived.statefile.stat().st_mtime_ns
        except OSError:
            vrrp = None
        return namespace, known, vrrp, udp

    def _single(self, amphora_id: str) -> bool:
        """The amphora's last applied bundle runs no keepalived."""
        known = self._digests.get(amphora_id)
        if known is not None:
            return "keepalived.conf" not in known[0].files
        return not self._found(amphora_id)[0]

    def _without_udp(self, amphora_id: str) -> bool:
        """The amphora's last applied bundle has no UDP listener, so there is no agent to
        look at: at 1,000 amphorae, a failing stat() and its exception per amphora every
        second (liveness) and a stat() per observation saved."""
        known = self._digests.get(amphora_id)
        if known is not None:
            return UDP_VIEW not in known[0].files
        return not self._found(amphora_id)[1]

    def _found(self, amphora_id: str) -> tuple[bool, bool]:
        """(runs keepalived, serves UDP) as the amphora's directory says, for one this
        process has not applied yet (after a restart the resync lane reaches each of 1,000
        amphorae only within minutes): its last apply wrote keepalived.conf and the UDP
        view exactly when its bundle had them. Looked at once; an apply's bundle is
        consulted from then on (_digests)."""
        found = self._found_on_disk.get(amphora_id)
        if found is None:
            keepalived = self._keepalived(amphora_id)
            found = (keepalived.config.exists(), self._udp_agent(amphora_id).view.exists())
            self._found_on_disk[amphora_id] = found
        return found

    def _started(self, amphora_id: str, proc: HaproxyProcess,
                 counters: dict[str, ListenerCounters]) -> float:
        """The worker's start time: the last one known while the counters are unchanged."""
        known = self._starts.get(amphora_id)
        if known is not None and known[0] == counters:
            return known[1]
        started = process_start_time(proc.worker_pid())
        self._starts[amphora_id] = (counters, started)
        return started

    def existing(self) -> set[str]:
        """Amphorae this nslb owns on the host: those with a directory under our state dir.

        Namespaces alone do not prove ownership (another nslb with another state dir may
        share the host), so a bare `nslb-*` namespace is never reported as ours.
        """
        root = amphora_dir(self.state_dir, "x").parent
        if not root.is_dir():
            return set()
        return {p.name for p in root.iterdir()
                if p.is_dir() and layout.UUID.fullmatch(p.name)}

    def close(self) -> None:
        """Haproxies are daemons and must keep serving without nslb: only the host netlink
        socket and the pidfds the health loop watched are released."""
        self._lifelines.close()
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None

    # --- apply steps ----------------------------------------------------------------------

    def _apply(self, bundle: Bundle) -> str:
        digest = self._digest(bundle)
        proc = self._process(bundle.amphora_id)
        keepalived = self._keepalived(bundle.amphora_id)
        pair = "keepalived.conf" in bundle.files
        proc.prepare_dir()
        namespace = netns.namespace_name(bundle.amphora_id)
        plans = self._port_plans(bundle)
        if self._converged(proc, keepalived, pair, digest, plans, bundle):
            return digest
        stale = superseded(bundle.amphora_id, bundle.generation, digest,
                           _confirmed_generation(proc))
        if stale is not None:
            raise stale
        self._evict_orphan(proc, keepalived)
        # The gate before the ports: a new amphora's VIP (a replacement's) holds SYNs
        # back from the moment it is plugged until haproxy listens, instead of refusing.
        netns.ensure_namespace(namespace)
        self._gate(namespace, bundle.files.get(HANDOVER), proc.dir / HANDOVER)
        owed = self._plumb(namespace, plans)
        try:
            return self._serve(bundle, proc, keepalived, digest, pair)
        finally:
            # after haproxy started or reloaded, and even when it failed: the address is
            # there, and a retry will not add it again (netns/announcer.py says why not here)
            self._announcer.owe(owed)

    def _serve(self, bundle: Bundle, proc: HaproxyProcess, keepalived: KeepalivedProcess,
               digest: str, pair: bool) -> str:
        """The rest of _apply once the namespace and its ports are as planned: haproxy
        started, reloaded or left alone, then UDP, VRRP and the confirmation."""
        running = proc.master_pid() is not None and bool(proc.current_workers())
        if running and (not pair or keepalived.pid() is not None) and \
                _confirmed(proc) == digest and self._udp_converged(bundle):
            return digest
        text = bundle.files["haproxy.cfg"]
        _read_config(proc.config)  # clears a directory left where the config belongs
        # TLS files first: the check and the start read them. Their paths never change
        # with their content, so the running haproxy gets new content by its runtime API.
        tls = tls_files.of_bundle(bundle.files)
        rotated = tls_files.changed(proc.dir, tls)
        tls_files.write(proc.dir, rotated, proc.user)
        candidate = proc.dir / "haproxy.cfg.new"
        _write_atomically(candidate, text)
        serving = _read_config(proc.lkg) if running else None
        if serving == text and _read_config(proc.config) == text and not rotated:
            # haproxy serves this very config and its TLS files: only other files changed
            # (UDP rules, keepalived.conf), so there is nothing to check or reload.
            candidate.unlink(missing_ok=True)
        elif serving is not None:
            # `haproxy -c` first: a config that cannot load must never replace a serving one.
            problem = proc.check(candidate)
            if problem:
                candidate.unlink(missing_ok=True)
                self.metrics.rejections.labels("haproxy").inc()
                raise ConfigRejected(f"haproxy rejected the configuration: {problem}")
            self._update_running(proc, serving, candidate, rotated)
        else:
            if pair and keepalived.pid() is not None:
                # An amphora whose haproxy died gives the VIP to its peer before anything
                # else: it comes back as the standby instead of racing the failover.
                keepalived.stop()
            # Nothing serves yet, so a separate check would only cost a process start:
            # haproxy validates while starting and its complaint becomes the ApplyError.
            self._start(proc, candidate, pair)
        shutil.copyfile(proc.config, proc.lkg)
        tls_files.prune(proc.dir, tls)
        self._udp(bundle)
        self._vrrp(keepalived, bundle.files.get("keepalived.conf"), bundle.ports)
        _keep_file(proc.dir / HANDOVER, bundle.files.get(HANDOVER))
        _confirm(proc, bundle, digest)
        return digest

    def _digest(self, bundle: Bundle) -> str:
        known = self._digests.get(bundle.amphora_id)
        if known is not None and known[0] is bundle:
            return known[1]
        digest = bundle.hash
        self._digests[bundle.amphora_id] = (bundle, digest)
        return digest

    def _converged(self, proc: HaproxyProcess, keepalived: KeepalivedProcess, pair: bool,
                   digest: str, plans: list[netns.PortPlan], bundle: Bundle) -> bool:
        """The cheap check of a converged resync: the amphora confirmed this bundle, its
        haproxy (and keepalived) run with a worker in its namespace, and its ports look
        as planned from the host. False sends apply down the full path, which repairs."""
        if self._confirmed(proc) != digest:
            return False
        master = proc.master_pid()
        if master is None or not proc.in_namespace(master) or not proc.has_workers(master):
            return False
        vrrp = keepalived.pid()
        if (vrrp is not None) != pair or (vrrp is not None and not proc.in_namespace(vrrp)):
            return False
        if not self._udp_converged(bundle):
            return False
        problems = verify.differences(self._host_netlink(), proc.namespace, plans, master)
        if problems:
            log.warning("amphora %s: %s; repairing", proc.dir.name, "; ".join(problems[:4]))
            return False
        return True

    def _confirmed(self, proc: HaproxyProcess) -> str | None:
        """_confirmed(proc), read again only when the file changed (one stat() instead of
        reading and parsing it at every converged resync; _confirm replaces the file, so
        its inode changes with every confirmation)."""
        try:
            st = os.stat(proc.dir / CONFIRMED)
        except OSError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self._confirmations.get(proc.dir.name)
        if known is not None and known[0] == key:
            return known[1]
        digest = _confirmed(proc)
        self._confirmations[proc.dir.name] = (key, digest)
        return digest

    def _host_netlink(self) -> Netlink:
        if self._netlink is None:
            with self._locks_guard:
                if self._netlink is None:
                    self._netlink = Netlink()
        return self._netlink

    def _vrrp(self, keepalived: KeepalivedProcess, text: str | None,
              ports: tuple[NetworkPort, ...]) -> None:
        """Run keepalived with `text` (an ACTIVE_STANDBY amphora), or not at all (None)."""
        if text is None:
            if keepalived.pid() is not None:
                keepalived.stop()
            keepalived.config.unlink(missing_ok=True)
            return
        current = _read_config(keepalived.config)
        running = keepalived.pid() is not None
        if running and current == text:
            return
        candidate = keepalived.dir / "keepalived.conf.new"
        _write_atomically(candidate, text)
        problem = keepalived.check(candidate)
        if problem:
            candidate.unlink(missing_ok=True)
            self.metrics.rejections.labels("keepalived").inc()
            raise ConfigRejected(f"keepalived rejected the configuration: {problem}")
        os.replace(candidate, keepalived.config)
        try:
            if running:
                keepalived.reload()
            else:
                # A keepalived that was killed leaves its VIP behind: drop it first, so only
                # the elected amphora ever holds it.
                for port in ports:
                    if port.floating:
                        netns.drop_addresses(keepalived.namespace, port.port_id, port.floating)
                keepalived.start()
        except (RuntimeError, OSError) as exc:
            raise ApplyError(f"keepalived did not take the configuration: {exc}") from exc

    def _udp_converged(self, bundle: Bundle) -> bool:
        """The UDP agent serves the bundle's view (or there is none to serve)."""
        text = bundle.files.get(UDP_VIEW)
        agent = self._udp_agent(bundle.amphora_id)
        if text is None:
            return not agent.view.exists() and agent.pid() is None
        return agent.pid() is not None and agent.loaded() == view_hash(text)

    def _udp(self, bundle: Bundle) -> None:
        """Serve the bundle's UDP listeners: rules checked by `nft -c` in the namespace,
        then the agent (started, or signalled) loads them and reports the view's hash.
        Without UDP listeners the agent and its table go."""
        agent = self._udp_agent(bundle.amphora_id)
        text = bundle.files.get(UDP_VIEW)
        if text is None:
            if agent.view.exists() or agent.pid() is not None:
                agent.stop()
                agent.remove_table()
                for name in (UDP_VIEW, UDP_RULES):
                    (agent.dir / name).unlink(missing_ok=True)
            return
        problem = agent.check_rules(bundle.files[UDP_RULES])
        if problem:
            raise ConfigRejected(f"nft rejected the UDP rules: {problem}")
        _write_atomically(agent.dir / UDP_RULES, bundle.files[UDP_RULES])
        _write_atomically(agent.view, text)
        digest = view_hash(text)
        if agent.loaded() == digest and agent.pid() is not None:
            return
        try:
            if agent.pid() is None:
                set_in_namespace(agent.namespace, UDP_SYSCTLS)
                agent.start()
            else:
                agent.reload()
        except (RuntimeError, OSError) as exc:
            raise ApplyError(f"UDP agent: {exc}") from exc
        if not agent.wait_for(digest, UDP_AGENT_WAIT):
            raise ApplyError("the UDP agent did not load the rules (see udp-agent.log)")

    def _update_running(self, proc: HaproxyProcess, serving: str, candidate: Path,
                        rotated: dict[str, str] | None = None) -> None:
        """Move the running haproxy from `serving` (the last config it confirmed) to the
        candidate: through the runtime API when only weights, admin states, members of
        dynamic backends and the content of certificates, CA files and CRLs differ (see
        nslb.amphora.tls_files), else with a checked reload that rolls back to the last
        known good config."""
        commands = runtime_api.runtime_commands(serving, candidate.read_text())
        rotation = tls_files.rotation_commands(proc.dir, rotated or {})
        os.replace(candidate, proc.config)
        if commands is not None and rotation is not None:
            for command in [*rotation, *commands]:
                answer = proc.worker_command(command.line)
                if not command.succeeded(answer):
                    log.warning("runtime API %r answered %r; reloading instead",
                                command.line.split(" <<", 1)[0], answer.strip())
                    for abort in tls_files.abort_commands(proc.dir, rotated or {}):
                        proc.worker_command(abort.line)
                    break
                self.metrics.runtime_changes.inc()
            else:
                return
        try:
            proc.reload()
        except (RuntimeError, OSError) as exc:
            self.metrics.reloads.labels("failed").inc()
            self._roll_back(proc)
            raise ApplyError(f"reload failed, kept the last known good config: {exc}") from exc
        self.metrics.reloads.labels("ok").inc()

    def _roll_back(self, proc: HaproxyProcess) -> None:
        if not proc.lkg.exists():
            return
        self.metrics.rollbacks.inc()
        shutil.copyfile(proc.lkg, proc.config)
        try:
            proc.reload()
        except (RuntimeError, OSError):
            log.exception("reload of the last known good config of %s failed", proc.dir.name)

    def _start(self, proc: HaproxyProcess, candidate: Path, pair: bool = False) -> None:
        proc.stop()  # a master without workers, or leftovers from a crash
        os.replace(candidate, proc.config)
        try:
            set_in_namespace(proc.namespace,
                             {**NAMESPACE_SYSCTLS, **(PAIR_SYSCTLS if pair else {})})
            proc.start()
        except (RuntimeError, OSError) as exc:
            proc.stop()
            raise ApplyError(f"haproxy did not start: {exc}") from exc
        self.metrics.haproxy_starts.inc()

    def _evict_orphan(self, proc: HaproxyProcess, keepalived: KeepalivedProcess) -> None:
        """Stop a haproxy (and keepalived, and UDP agent) left in a namespace that was
        deleted under it (`ip netns del`): the processes keep the orphaned namespace, its
        veths and its addresses alive, a VIP included, until they are gone; an agent left
        there would also pass for the new namespace's, which would get no UDP table."""
        agent = self._udp_agent(proc.dir.name)
        pid = agent.pid()
        if pid is not None and not proc.in_namespace(pid):
            log.warning("the UDP agent of %s runs outside its namespace; restarting",
                        proc.dir.name)
            agent.stop()
        pid = keepalived.pid()
        if pid is not None and not proc.in_namespace(pid):
            log.warning("keepalived of %s runs outside its namespace; restarting",
                        proc.dir.name)
            keepalived.stop()
        pid = proc.master_pid()
        if pid is not None and not proc.in_namespace(pid):
            log.warning("haproxy of %s runs outside its namespace; restarting", proc.dir.name)
            proc.stop()

    def _plumb(self, namespace: str, plans: list[netns.PortPlan]) -> list[netns.Announcement]:
        """The ports as planned; the announcements their new addresses are owed."""
        netns.ensure_namespace(namespace)
        wanted: set[str] = set()
        owed: list[netns.Announcement] = []
        for plan in plans:
            wanted.add(port_key(plan.port_id))
            owed.extend(netns.plug_quietly(namespace, plan, self.bridges))
        stale = netns.plugged_port_prefixes(namespace) - wanted
        for key in stale:
            netns.unplug(namespace, key)
        if stale:  # the last port of a VXLAN network on this host may just have gone
            vxlan.prune_segments(self.bridges)
        return owed

    def _port_plans(self, bundle: Bundle) -> list[netns.PortPlan]:
        """The bundle's ports as netns plans; VXLAN ports with their host segment."""
        floods: dict[int, tuple[str, ...]] = {}
        statics: dict[int, tuple[tuple[str, str], ...]] = {}
        for p in bundle.ports:
            if p.network_type == "vxlan" and p.segmentation_id is not None:
                floods[p.segmentation_id] = p.flood
                statics[p.segmentation_id] = tuple((x.mac, x.underlay) for x in p.peers
                                                   if x.underlay)
        self._floods[bundle.amphora_id] = floods
        self._statics[bundle.amphora_id] = statics
        return [port_plan(port, self._bridge(port), self._segment(port))
                for port in bundle.ports]

    def _segment(self, port: NetworkPort) -> vxlan.SegmentPlan | None:
        if port.network_type != "vxlan" or port.segmentation_id is None:
            return None
        if not self.underlay_address:
            raise ConfigRejected(f"port {port.port_id} is on VXLAN network (VNI "
                                 f"{port.segmentation_id}), but this host has no underlay "
                                 "address (--underlay-address)")
        vni = port.segmentation_id
        remotes = {a for floods in self._floods.values() for a in floods.get(vni, ())}
        static = {e for peers in self._statics.values() for e in peers.get(vni, ())}
        return vxlan.segment_plan(vni, self.underlay_address, port.mtu, sorted(remotes),
                                  sorted(static))

    def _bridge(self, port: NetworkPort) -> str:
        if port.network_type == "vxlan" and port.segmentation_id is not None:
            return vxlan.bridge_name(port.segmentation_id)
        try:
            return self.physnets[port.physical_network]
        except KeyError:
            raise ApplyError(f"port {port.port_id} is on physical network "
                             f"{port.physical_network!r}, which is not mapped to a "
                             "bridge") from None

    # --- helpers --------------------------------------------------------------------------

    def _process(self, amphora_id: str) -> HaproxyProcess:
        return self._handles_of(amphora_id)[0]

    def _keepalived(self, amphora_id: str) -> KeepalivedProcess:
        return self._handles_of(amphora_id)[1]

    def _handles_of(self, amphora_id: str) -> tuple[HaproxyProcess, KeepalivedProcess]:
        handles = self._handles.get(amphora_id)
        if handles is None:
            directory = amphora_dir(self.state_dir, amphora_id)
            namespace = netns.namespace_name(amphora_id)
            handles = (HaproxyProcess(directory, namespace, self.haproxy, self.haproxy_user,
                                      aliases=(layout.legacy_config(self.state_dir,
                                                                    amphora_id),)),
                       KeepalivedProcess(directory, namespace))
            self._handles[amphora_id] = handles
        return handles

    def _udp_agent(self, amphora_id: str) -> UdpAgentProcess:
        agent = self._udp_agents.get(amphora_id)
        if agent is None:
            agent = UdpAgentProcess(amphora_dir(self.state_dir, amphora_id),
                                    netns.namespace_name(amphora_id))
            self._udp_agents[amphora_id] = agent
        return agent

    def _lock(self, amphora_id: str) -> threading.Lock:
        """One amphora's plumbing at a time, in this process. Enough with several
        controllers too: only the holder of the LB's lease (db/leases.py) drives its
        amphorae, and this driver only ever touches this host's namespaces, which one
        controller per host drives (README, Many hosts)."""
        with self._locks_guard:
            return self._locks.setdefault(amphora_id, threading.Lock())


def fd_limit() -> int:
    """The open-files limit haproxy inherits and may raise itself to (the hard limit)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def _read_config(path: Path) -> str | None:
    """The config on disk, or None when there is none to compare with. Whatever an operator
    or a fault left there (bytes that are not UTF-8, a directory) must not stop the next
    apply from replacing it (probe F10), so undecodable bytes compare as different text
    and a directory is removed."""
    if path.is_dir() and not path.is_symlink():
        log.warning("%s is a directory; removing it so the config can be written", path)
        shutil.rmtree(path, ignore_errors=True)
        return None
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _confirmed(proc: HaproxyProcess) -> str | None:
    """The hash of the bundle the running haproxy last confirmed, if any."""
    found = _confirmed_generation(proc)
    return found[0] if found is not None else None


def _confirmed_generation(proc: HaproxyProcess) -> tuple[str, int] | None:
    """(hash, generation) of the bundle the amphora last confirmed, if any (generation 0
    in a record without one, which nothing is older than)."""
    try:
        data = json.loads((proc.dir / CONFIRMED).read_text())
        return str(data["hash"]), int(data.get("generation", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _confirm(proc: HaproxyProcess, bundle: Bundle, digest: str) -> None:
    """Written last, only after haproxy took the bundle."""
    _write_atomically(proc.dir / CONFIRMED, json.dumps(
        {"hash": digest, "generation": bundle.generation}))


def _keep_file(path: Path, text: str | None) -> None:
    """Write `text` at `path` when it differs; remove the file when there is no text."""
    if text is None:
        path.unlink(missing_ok=True)
    elif _read_config(path) != text:
        _write_atomically(path, text)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
