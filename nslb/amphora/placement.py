"""Where a new amphora goes: the database read into the scheduler's plain state
(nslb/placement), the scheduler run, the choice written.

A host's zone and metadata come from the aggregates it is in (by host name, as Nova);
what it holds from the amphorae placed on it (their compute flavors' memory and
connections). The request comes from the load balancer: its availability zone's profile
`compute_zone`, its Octavia flavor's `compute_flavor` (resources and extra specs), the
hosts of its other live amphorae (never shared), and the hosts of the amphorae a failover
replaces (PENDING_DELETE: left if any other host can take the replacement). The
amphorae of one load balancer still without a host are placed together
(Scheduler.place_group), so a pair is split across hosts by construction. When no
host passes, NoValidHost says which filter stopped each host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nslb.db import compute, hosts
from nslb.db import flavors as flavor_repo
from nslb.db import zones as zone_repo
from nslb.db.tables import amphora as amphora_table
from nslb.db.tables import load_balancer
from nslb.model.enums import AmphoraRole, AmphoraStatus
from nslb.model.placement import COMPUTE_FLAVOR, COMPUTE_ZONE, profile_string
from nslb.placement.scheduler import NoValidHost, Scheduler
from nslb.placement.state import ComputeFlavor, HostState, Request, Resources

UNLIMITED = 2**40  # a host that states no limit (0) for a resource
ZONE_ANTI_AFFINITY_SPEC = "nslb:zone_anti_affinity"
GONE = (AmphoraStatus.DELETED,)


class MissingFlavor(Exception):
    """The LB's Octavia flavor names a compute flavor that was deleted since: placing
    without its requirements would put the amphorae where the operator said not to."""


@dataclass(frozen=True)
class Placed:
    amphora_id: str
    host_id: str
    zone: str | None
    compute_flavor: str | None


def host_states(session: Session, flavors: dict[str, compute.Flavor],
                silent: Callable[[str], bool] = lambda host_id: False) -> list[HostState]:
    """Every host as the scheduler sees it; `silent(host_id)`: its heartbeats stopped, so
    it is down whatever its row says yet (the host watch marks it within a round)."""
    usage: dict[str, Resources] = {}
    rows = session.execute(
        select(amphora_table.c.compute_id, amphora_table.c.compute_flavor, func.count())
        .where(amphora_table.c.compute_id.is_not(None),
               amphora_table.c.status.not_in(GONE))
        .group_by(amphora_table.c.compute_id, amphora_table.c.compute_flavor)).all()
    for host_id, flavor_id, count in rows:
        takes = _compute_flavor(flavors.get(flavor_id) if flavor_id else None).takes()
        usage[host_id] = usage.get(host_id, Resources()) + Resources(
            count, takes.memory_mb * count, takes.connections * count)
    where = compute.host_placement(session)
    out = []
    for h in hosts.all_hosts(session, count=False):
        zone, metadata = where.get(h.name, (None, {}))
        out.append(HostState(
            id=h.id, name=h.name, up=h.placeable and not silent(h.id),
            capacity=Resources(h.max_amphorae or UNLIMITED, h.memory_mb or UNLIMITED,
                               UNLIMITED),
            used=usage.get(h.id, Resources()), zone=zone, metadata=metadata))
    return out


def _compute_flavor(found: compute.Flavor | None) -> ComputeFlavor:
    if found is None:
        return ComputeFlavor()
    connections = found.extra_specs.get(compute.CONNECTIONS_SPEC, "0")
    return ComputeFlavor(name=found.id, memory_mb=found.ram,
                         connections=int(connections) if connections.isdigit() else 0,
                         extra_specs=dict(found.extra_specs))


@dataclass(frozen=True)
class LbWants:
    """What the load balancer asks of its amphorae' hosts."""

    zone: str | None
    flavor: compute.Flavor | None


def lb_wants(session: Session, lb_id: str) -> LbWants:
    row = session.execute(select(load_balancer.c.availability_zone, load_balancer.c.flavor_id)
                          .where(load_balancer.c.id == lb_id)).first()
    zone = flavor_id = None
    if row is not None and row.availability_zone:
        az = zone_repo.get(session, row.availability_zone)
        profile = zone_repo.profile(session, az.availability_zone_profile_id) if az else None
        if profile is not None:
            zone = profile_string(profile.availability_zone_data, COMPUTE_ZONE)
    if row is not None and row.flavor_id:
        fl = flavor_repo.get(session, row.flavor_id)
        profile_f = flavor_repo.profile(session, fl.flavor_profile_id) if fl else None
        if profile_f is not None:
            flavor_id = profile_string(profile_f.flavor_data, COMPUTE_FLAVOR)
    found = compute.flavor(session, flavor_id) if flavor_id else None
    if flavor_id and found is None:
        raise MissingFlavor(f"the compute flavor {flavor_id} of the load balancer's flavor "
                            "does not exist")
    return LbWants(zone, found)


def requests(amphora_ids: Iterable[str], wants: LbWants, peers: set[str],
             peer_zones: set[str | None], ignore: set[str]) -> list[Request]:
    flavor = _compute_flavor(wants.flavor)
    spread = flavor.extra_specs.get(ZONE_ANTI_AFFINITY_SPEC, "").lower() == "true"
    return [Request(amphora_id=a, flavor=flavor,
                    zones=frozenset({wants.zone}) if wants.zone else frozenset(),
                    peer_hosts=frozenset(peers), peer_zones=frozenset(peer_zones),
                    zone_anti_affinity=spread,
                    ignore_hosts=frozenset(ignore)) for a in amphora_ids]


def place(session: Session, lb_id: str, scheduler: Scheduler,
          silent: Callable[[str], bool] = lambda host_id: False) -> list[Placed]:
    """Place every amphora of the load balancer that has no host yet and write the
    choices; NoValidHost (nothing written) when one cannot be placed. `silent`: see
    host_states (a replacement had been placed on the very host that was just lost)."""
    rows = session.execute(select(amphora_table.c.id, amphora_table.c.compute_id,
                                  amphora_table.c.status, amphora_table.c.role)
                           .where(amphora_table.c.loadbalancer_id == lb_id)).all()
    rows = sorted(rows, key=lambda r: (r.role != AmphoraRole.MASTER, r.id))  # MASTER first
    waiting = [r.id for r in rows if r.compute_id is None and r.status not in GONE]
    if not waiting:
        return []
    leaving = {r.compute_id for r in rows if r.compute_id
               and r.status == AmphoraStatus.PENDING_DELETE}
    peers = {r.compute_id for r in rows if r.compute_id
             and r.status not in (*GONE, AmphoraStatus.PENDING_DELETE)}
    wants = lb_wants(session, lb_id)
    flavors = {f.id: f for f in compute.flavors(session)}
    states = host_states(session, flavors, silent)
    peer_zones = {h.zone for h in states if h.id in peers}
    try:
        chosen = scheduler.place_group(states, requests(waiting, wants, peers, peer_zones,
                                                        leaving))
    except NoValidHost as refused:
        if not leaving:
            raise
        # Leaving the replaced amphora's host is a preference: a host that is down is
        # out anyway (HostUp), and one that is up is better than no replacement at all
        # (a single host, or the only host of a zone). The first refusal is the one told.
        try:
            chosen = scheduler.place_group(states, requests(waiting, wants, peers,
                                                            peer_zones, set()))
        except NoValidHost:
            raise refused from None
    return _write(session, waiting, chosen, wants)


def _write(session: Session, waiting: list[str], chosen: list[HostState],
           wants: LbWants) -> list[Placed]:
    placed = []
    for amphora_id, host in zip(waiting, chosen, strict=True):
        flavor_id = wants.flavor.id if wants.flavor else None
        row = hosts.get(session, host.id)
        session.execute(update(amphora_table).where(amphora_table.c.id == amphora_id).values(
            compute_id=host.id, cached_zone=host.zone, compute_flavor=flavor_id,
            cert_expiration=row.cert_expiry if row else None))
        placed.append(Placed(amphora_id, host.id, host.zone, flavor_id))
    return placed
