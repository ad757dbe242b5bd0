"""The `remote` driver (`nslb serve --agents remote`): the AmphoraDriver Protocol over
mutual TLS to the agents (nslb/agent) on other hosts.

Each amphora lives on one host, `amphora.compute_id`. A new one is placed before its
first bundle is rendered (`place`, base.PlacesAmphorae, called by the worker, so the
bundle names its peers' hosts; nslb/amphora/placement.py: the filter scheduler of
nslb/placement over the hosts, their aggregates and amphorae, the LB's zone and compute
flavor; an LB's unplaced amphorae are placed together; a host whose heartbeats stopped
counts as down), and the choice is written before the agent is called, so a crash in
between leaves a placed amphora, never a lost one. When no host passes, the apply fails
with the scheduler's explanation as a ConfigRejected: the LB goes to ERROR with that
reason at once instead of retrying a placement that cannot change until an operator
acts. Every response
is checked to come from that host: the TLS handshake verifies the CA and that the address
is in the certificate; then the certificate must hold the agent role, the host's id as
its CN, and a serial not revoked. A host that cannot be reached is marked DOWN (and UP
again at its next answer); an apply there fails and is retried by the worker.

With heartbeats (`heartbeat_states`, set by nslb/service.py when `--heartbeat-listen` is
on), a host's UP/DOWN comes from its heartbeats (nslb/health/hoststate.py) instead, and a
call to a DOWN host fails at once rather than after a connect timeout.

Deleting an amphora whose host cannot be reached (failover off a dead host) is recorded
(table host_cleanup) and reported done, so the failover goes on; `reconcile(host)` runs
when the host is UP again: it removes the recorded amphorae and any other the database no
longer places there (`existing()` on that host against the database). It removes only
the amphora's own namespace on that host: the VIP now served by the replacement elsewhere
is not touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select

from nslb.amphora import placement, wire
from nslb.amphora.base import ApplyError, ConfigRejected, Observation, Superseded
from nslb.db import hosts
from nslb.db.engine import Database
from nslb.db.tables import amphora as amphora_table
from nslb.model.bundle import Bundle, HostFacts
from nslb.pki import checks, contexts
from nslb.pki.ca import AGENT, now
from nslb.pki.controller import ControllerPki
from nslb.pki.values import url_host
from nslb.placement.scheduler import NoValidHost, Scheduler

log = logging.getLogger(__name__)
TIMEOUT = 30.0
FACTS_TTL = 30.0
REVOKED_TTL = 5.0
HOSTS_TTL = 2.0
# The state dir the bundle was rendered for (its configs name it): an agent with another
# one refuses the bundle rather than start a haproxy with paths that are not its own.
RENDERED_FOR = "x-nslb-rendered-for"
DEFAULT_FACTS = HostFacts(host="remote", state_dir="/var/lib/nslb", fd_limit=1024)


class HostUnreachable(ApplyError):
    pass


class RemoteDriver:
    name = "remote"

    def __init__(self, db: Database, pki: ControllerPki, timeout: float = TIMEOUT,
                 scheduler: Scheduler | None = None) -> None:
        self.db = db
        self.scheduler = scheduler or Scheduler()
        self.pki = pki
        self.timeout = timeout
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._generation = -1
        self._facts: tuple[float, HostFacts] | None = None
        self._host_facts: dict[str, HostFacts] = {}  # host id -> what it last reported
        self._revoked: tuple[float, set[str]] = (0.0, set())
        self._where: dict[str, str] = {}  # amphora id -> host id
        self._host_cache: tuple[float, dict[str, hosts.Host]] = (float("-inf"), {})
        self.heartbeat_states = False
        # with heartbeats: whether a host's own heartbeats stopped (health/hoststate.py)
        self.host_silent: Callable[[str], bool] = lambda host_id: False

    # --- Protocol -------------------------------------------------------------------------

    def facts(self) -> HostFacts:
        """The hosts' facts together (the first one's state dir and haproxy account, the
        smallest FD limit); a bundle is rendered for its own host's (`facts_of`). Never
        raises: without a reachable host, the last facts known."""
        cached = self._facts
        if cached is not None and time.monotonic() - cached[0] < FACTS_TTL:
            return cached[1]
        found = [f for f in (self._fetch_facts(host) for host in self._hosts())
                 if f is not None]
        if not found:
            return cached[1] if cached is not None else DEFAULT_FACTS
        facts = HostFacts(host="remote", state_dir=found[0].state_dir,
                          fd_limit=min(f.fd_limit for f in found),
                          haproxy_user=found[0].haproxy_user,
                          access_logs=all(f.access_logs for f in found))
        self._facts = (time.monotonic(), facts)
        return facts

    def facts_of(self, amphora_id: str) -> HostFacts:
        """The facts of the amphora's host (base.PlacesAmphorae): agents may run with
        different state dirs, accounts and limits, and a config names its host's paths."""
        together = self.facts()  # refreshes every host's facts after FACTS_TTL
        host = self._host_of(amphora_id)
        if host is None:
            return together
        own = self._host_facts.get(host.id) or self._fetch_facts(host)
        return own if own is not None else together

    def _fetch_facts(self, host: hosts.Host) -> HostFacts | None:
        """Ask the host for its facts (and remember them, and its underlay address)."""
        try:
            found = wire.facts_from_dict(self._call(host, "GET", "facts").json())
        except (ApplyError, ValueError) as exc:
            log.warning("facts of host %s: %s", host.id, exc)
            return None
        self._host_facts[host.id] = found
        self._record_underlay(host, found.underlay_address or None)
        return found

    def apply(self, bundle: Bundle) -> str:
        host = self._placed(bundle.amphora_id, bundle.loadbalancer_id)
        rendered_for = self.facts_of(bundle.amphora_id).state_dir
        resp = self._call(host, "PUT", f"amphorae/{bundle.amphora_id}",
                          content=bundle.to_json(),
                          headers={"content-type": "application/json",
                                   RENDERED_FOR: rendered_for})
        if resp.status_code == 200:
            return str(resp.json()["hash"])
        message = f"host {host.name}: {_error(resp)}"
        if resp.status_code == 422:
            raise ConfigRejected(message)
        serving = _serving_generation(resp)
        if serving is not None:
            raise Superseded(message, serving)
        if resp.status_code == 409:  # rendered for facts the host no longer has
            self._host_facts.pop(host.id, None)
        raise ApplyError(message)

    def delete(self, amphora_id: str) -> None:
        host = self._host_of(amphora_id)
        if host is None:
            return  # never placed, or its host was removed (and its data plane with it)
        try:
            resp = self._call(host, "DELETE", f"amphorae/{amphora_id}")
        except HostUnreachable as exc:
            with self.db.write() as session:
                hosts.defer_delete(session, host.id, amphora_id)
            log.warning("amphora %s: %s; its delete is deferred until the host is back",
                        amphora_id, exc)
            self._where.pop(amphora_id, None)
            return
        if resp.status_code not in (200, 204):
            raise ApplyError(f"host {host.name}: {_error(resp)}")
        self._where.pop(amphora_id, None)

    def reconcile(self, host_id: str) -> list[str]:
        """On a host that is back: remove the amphorae whose delete was deferred and any
        the database no longer places there. Returns the removed ids; raises ApplyError
        when the host cannot be listed (tried again later)."""
        with self.db.read() as session:
            host = hosts.get(session, host_id)
            if host is None:
                return []
            deferred = hosts.deferred(session, host_id).get(host_id, [])
        resp = self._call(host, "GET", "amphorae")
        present = {str(a) for a in resp.json()["amphorae"]}
        with self.db.read() as session:
            mine = hosts.assigned(session, host_id)
        removed = []
        for amphora_id in sorted(present - mine):
            resp = self._call(host, "DELETE", f"amphorae/{amphora_id}")
            if resp.status_code not in (200, 204):
                raise ApplyError(f"host {host.name}: {_error(resp)}")
            removed.append(amphora_id)
            log.warning("host %s is back: removed amphora %s, no longer placed there",
                        host.name, amphora_id)
        with self.db.write() as session:
            hosts.deferred_done(session, [a for a in deferred if a not in mine])
        return removed

    def observe(self, amphora_id: str) -> Observation:
        host = self._host_of(amphora_id)
        if host is None:
            return Observation(running=False)
        resp = self._call(host, "GET", f"amphorae/{amphora_id}")
        if resp.status_code != 200:
            raise ApplyError(f"host {host.name}: {_error(resp)}")
        return wire.observation_from_dict(resp.json())

    def existing(self) -> set[str]:
        """Amphorae on the hosts that answer (one that does not is skipped: the orphans
        it may hold are cleaned at a later start)."""
        out: set[str] = set()
        for host in self._hosts():
            try:
                resp = self._call(host, "GET", "amphorae")
            except ApplyError as exc:
                log.warning("listing amphorae of host %s: %s", host.id, exc)
                continue
            out.update(str(a) for a in resp.json()["amphorae"])
        return out

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- hosts ----------------------------------------------------------------------------

    def _record_underlay(self, host: hosts.Host, address: str | None) -> None:
        """Keep the host row's underlay address as its agent reports it: the VXLAN
        networks' other hosts flood to it (nslb.db.snapshots.vxlan_hosts)."""
        if host.underlay_address == address:
            return
        with self.db.write() as session:
            hosts.set_underlay(session, host.id, address)

    def _hosts(self) -> list[hosts.Host]:
        """Every host, DOWN ones too: a call that succeeds marks a host UP again."""
        with self.db.read() as session:
            return hosts.all_hosts(session)

    def _host_of(self, amphora_id: str) -> hosts.Host | None:
        """The amphora's host. An amphora never moves (failover makes a new one), so its
        host id is remembered; host rows are read again after HOSTS_TTL seconds."""
        host_id = self._where.get(amphora_id)
        if host_id is None:
            with self.db.read() as session:
                host_id = session.scalar(select(amphora_table.c.compute_id).where(
                    amphora_table.c.id == amphora_id))
            if host_id is None:
                return None
            self._where[amphora_id] = host_id
        return self._host_rows().get(host_id)

    def _host_rows(self) -> dict[str, hosts.Host]:
        at, rows = self._host_cache
        if time.monotonic() - at > HOSTS_TTL:
            with self.db.read() as session:
                rows = {h.id: h for h in hosts.all_hosts(session, count=False)}
            self._host_cache = (time.monotonic(), rows)
        return rows

    def place(self, lb_id: str) -> None:
        """Choose and record a host for every amphora of the LB that has none
        (base.PlacesAmphorae: the worker calls this before it renders, so every bundle
        names its peers' hosts). A host whose heartbeats stopped counts as down even
        before the host watch marks it so: a replacement must not land on the host whose
        loss it replaces."""
        with self.db.write() as session:
            try:
                placed = placement.place(session, lb_id, self.scheduler,
                                         silent=self._silent)
            except (NoValidHost, placement.MissingFlavor) as exc:
                raise ConfigRejected(str(exc)) from None
        for one in placed:
            log.info("placed amphora %s on host %s (zone %s, compute flavor %s)",
                     one.amphora_id, one.host_id, one.zone, one.compute_flavor)
        self._learn_underlays({one.host_id for one in placed})

    def _silent(self, host_id: str) -> bool:
        return self.heartbeat_states and self.host_silent(host_id)

    def _learn_underlays(self, host_ids: set[str]) -> None:
        """Ask a chosen host that has not reported its underlay address yet (it joined
        after the last facts() round): the bundles rendered next flood to it."""
        rows = self._host_rows_now()
        for host_id in sorted(host_ids):
            host = rows.get(host_id)
            if host is not None and not host.underlay_address:
                self._fetch_facts(host)  # records the underlay address it reports

    def _host_rows_now(self) -> dict[str, hosts.Host]:
        self._host_cache = (float("-inf"), {})
        return self._host_rows()

    def _placed(self, amphora_id: str, lb_id: str) -> hosts.Host:
        """The amphora's host, chosen and recorded now if it has none (a caller that did
        not place() first)."""
        known = self._host_of(amphora_id)
        if known is not None:
            return known
        self.place(lb_id)
        with self.db.read() as session:
            mine = session.scalar(select(amphora_table.c.compute_id).where(
                amphora_table.c.id == amphora_id))
            if mine is None:
                raise ApplyError(f"amphora {amphora_id} is not placed")
            host = hosts.get(session, mine)
        if host is None:
            raise ApplyError(f"amphora {amphora_id} is on host {mine}, which was removed")
        self._where[amphora_id] = host.id
        return host

    def _mark(self, host: hosts.Host, state: str) -> None:
        if host.state == state or self.heartbeat_states:
            return  # with heartbeats, the host's heartbeats say (health/hoststate.py)
        with self.db.write() as session:
            changed = hosts.set_state(session, host.id, state)
        self._host_cache = (float("-inf"), {})
        if changed:
            log.warning("host %s (%s) is %s", host.id, host.name, state)
        if changed and state == hosts.UP:
            threading.Thread(target=self._reconcile_quietly, args=(host.id,), daemon=True,
                             name="nslb-host-reconcile").start()

    def hosts_changed(self) -> None:
        """Host rows changed (a state judged from heartbeats): read them again."""
        self._host_cache = (float("-inf"), {})

    def _reconcile_quietly(self, host_id: str) -> None:
        try:
            self.reconcile(host_id)
        except ApplyError as exc:
            log.warning("cleaning host %s up after its return: %s", host_id, exc)

    # --- calls ----------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        generation = self.pki.refresh()
        with self._lock:
            if self._client is None or generation != self._generation:
                if self._client is not None:
                    self._client.close()
                self._client = httpx.Client(verify=self.pki.client_context(),
                                            timeout=httpx.Timeout(self.timeout, connect=3.0))
                self._generation = generation
            return self._client

    def _revoked_serials(self) -> set[str]:
        at, serials = self._revoked
        if time.monotonic() - at > REVOKED_TTL:
            serials = self.pki.revoked()
            self._revoked = (time.monotonic(), serials)
        return serials

    def _call(self, host: hosts.Host, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.heartbeat_states and (host.state == hosts.DOWN or self.host_silent(host.id)):
            raise HostUnreachable(f"host {host.name} is DOWN (no heartbeat)")
        url = f"https://{url_host(host.address)}:{host.port}/v1/{path}"
        try:
            resp = self._http().request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self._mark(host, hosts.DOWN)
            raise HostUnreachable(f"host {host.name} ({host.address}:{host.port}) "
                                  f"unreachable: {exc}") from None
        why = checks.refusal(contexts.peer_der(resp), role=AGENT,
                             revoked=self._revoked_serials(), at=now(), name=host.id)
        if why is not None:
            self._mark(host, hosts.DOWN)
            raise HostUnreachable(f"host {host.name} refused: {why}")
        self._mark(host, hosts.UP)
        return resp


def _serving_generation(resp: httpx.Response) -> int | None:
    """The generation an amphora serves, from the agent's 409 "superseded" answer."""
    if resp.status_code != 409:
        return None
    try:
        body = resp.json()
        return int(body["generation"]) if body.get("kind") == "superseded" else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _error(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))
    except ValueError:
        return f"HTTP {resp.status_code}"
