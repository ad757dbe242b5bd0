"""The driver Protocol every amphora implementation follows, and what it reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from nslb.model.bundle import Bundle, HostFacts


class ApplyError(RuntimeError):
    """The driver could not make the data plane match the snapshot.

    The previous data plane must keep running (last-known-good); the message is shown to
    operators in logs and is the reason the LB went to ERROR.
    """


class ConfigRejected(ApplyError):
    """The data plane refused the configuration itself (a value outside its grammar,
    `haproxy -c`, an inconsistent snapshot): trying the same generation again cannot
    succeed, so the worker settles the change as failed at once instead of backing off."""


class Superseded(ApplyError):
    """The amphora already serves a newer generation of its LB than the bundle's.

    A controller that stalled past its lease (a long GC pause, a frozen VM) may still hand
    over a bundle it rendered before; the lease's new holder has applied a newer one since.
    The amphora keeps what it serves: its settle would be fenced anyway, and the stale
    bundle must not replace the new config until the next resync. A controller that still
    holds the lease and gets this has a database behind its amphorae (restored from a
    backup): it moves the LB's generation past `serving` and applies again."""

    def __init__(self, message: str, serving: int) -> None:
        super().__init__(message)
        self.serving = serving


def superseded(amphora_id: str, generation: int, digest: str,
               confirmed: tuple[str, int] | None) -> Superseded | None:
    """The refusal of a bundle (`generation`, `digest`) for an amphora that confirmed
    (hash, generation) `confirmed`, or None when it may apply. The same content is never
    refused (it changes nothing), nor the same generation (a pair's peers change within
    one)."""
    if confirmed is None:
        return None
    serving_hash, serving = confirmed
    if digest == serving_hash or generation >= serving:
        return None
    return Superseded(f"amphora {amphora_id} serves generation {serving}, newer than "
                      f"{generation}", serving)


@dataclass
class ListenerCounters:
    """Cumulative counters of one listener since its haproxy process started (the
    frontend row of `show stat`). The first five are Octavia's listener statistics;
    `requests` (HTTP requests, req_tot) and `responses_5xx` (hrsp_5xx) are exported as
    Prometheus metrics (0 on TCP listeners)."""

    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    total_connections: int = 0
    request_errors: int = 0
    requests: int = 0
    responses_5xx: int = 0


# The `show stat` columns of a server row that MemberCounters holds, in its fields' order.
MEMBER_COLUMNS = ("stot", "scur", "bin", "bout", "econ", "eresp", "hrsp_5xx")


@dataclass
class MemberCounters:
    """Cumulative counters of one member (a server row of `show stat`) since its haproxy
    process started, exported as Prometheus metrics: `sessions` (stot: one per HTTP
    request or TCP connection haproxy sent it), `active_sessions` (scur), bytes sent to it
    (`bytes_in`, bin) and received from it (`bytes_out`, bout), failed connections
    (`connection_errors`, econ), failed responses (`response_errors`, eresp) and
    `responses_5xx` (hrsp_5xx)."""

    sessions: int = 0
    active_sessions: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    connection_errors: int = 0
    response_errors: int = 0
    responses_5xx: int = 0

    @classmethod
    def parse(cls, raw: tuple[str, ...]) -> MemberCounters:
        """From the row's MEMBER_COLUMNS as haproxy wrote them (an empty cell is 0)."""
        return cls(*[int(v) if v.isdigit() else 0 for v in raw])


@dataclass(frozen=True)
class Traffic:
    """What the dashboard graphs for one listener (frontend) or member (server), as
    haproxy counts it since its process started: requests (HTTP requests, or connections
    for TCP), connections open now, and errors (for a listener: malformed requests and
    5xx answers sent to clients; for a member: failed connects, failed responses and 5xx
    it answered)."""

    requests: int = 0
    connections: int = 0
    errors: int = 0


@dataclass
class Observation:
    """What the data plane of one amphora looks like right now.

    Status strings are HAProxy's words (`show stat` column 17): listeners OPEN/FULL/STOP,
    backends (pools) UP/DOWN, servers UP/DOWN/DRAIN/MAINT/"no check"/NOLB. The health room
    maps them to Octavia's operating statuses. `process_start` changes when haproxy
    restarts, which tells the stats accumulator that counters were reset.
    """

    running: bool
    listeners: dict[str, str] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    counters: dict[str, ListenerCounters] = field(default_factory=dict)
    process_start: float = 0.0
    # member id -> its server row's MEMBER_COLUMNS, unparsed: the health loop reads every
    # row it observes but hands only the LBs that moved to the metrics, which parse them
    # (MemberCounters.parse)
    member_stats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # An ACTIVE_STANDBY amphora's VRRP state: MASTER (it holds the VIP), BACKUP, FAULT
    # (its check fails), STOPPED (keepalived is not running); "" for a STANDALONE one.
    vrrp: str = ""
    # listener id or member id -> its Traffic (ids are UUIDs, so the two never collide)
    traffic: dict[str, Traffic] = field(default_factory=dict)


class AmphoraDriver(Protocol):
    """One data plane of amphorae. The unit of work is the amphora: the worker renders a
    bundle per amphora (nslb.render.bundle) for the host facts the driver reports, and the
    driver makes that amphora serve it. Implementations must be idempotent: applying the
    bundle an amphora already confirmed changes nothing."""

    name: str

    def facts(self) -> HostFacts:
        """What rendering must know about the host the amphorae run on."""

    def apply(self, bundle: Bundle) -> str:
        """Make amphora `bundle.amphora_id` serve the bundle; return the hash the data plane
        confirmed. Raise ApplyError (ConfigRejected when retrying cannot help)."""

    def delete(self, amphora_id: str) -> None:
        """Remove everything of the amphora (processes, namespace, links, files). Idempotent."""

    def observe(self, amphora_id: str) -> Observation:
        """Report the current state of one amphora's data plane."""

    def existing(self) -> set[str]:
        """Ids of amphorae with data plane on this host (for orphan cleanup after crashes)."""

    def close(self) -> None:
        """Release resources on service shutdown. Must leave running amphorae serving."""


@runtime_checkable
class PlacesAmphorae(Protocol):
    """A driver whose amphorae live on hosts it chooses (the remote driver). The worker
    asks it to place an LB's new amphorae before it renders their bundles: a bundle names
    the hosts of the amphora's peers (a VXLAN port floods to them, a pair's VRRP peer is
    reached through them), so rendering for an amphora with no host yet would hand it a
    bundle that is wrong until the next render."""

    def place(self, lb_id: str) -> None:
        """Choose and record a host for every amphora of the LB that has none. Raise
        ConfigRejected when no host can take one (retrying cannot help until an operator
        acts), ApplyError for anything that may pass on retry."""

    def facts_of(self, amphora_id: str) -> HostFacts:
        """The facts of the placed amphora's host, which its bundle is rendered for (its
        state dir, haproxy account, FD limit): hosts may differ."""
