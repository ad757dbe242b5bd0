"""A consistent, versioned picture of one load balancer: everything a driver needs, nothing more.

The worker builds a snapshot from the database (objects being deleted are already left out),
and drivers render and apply it. `problems()` is the consistency check, in the spirit of
go-control-plane's Snapshot.Consistent(): a snapshot that references something it does not
contain must never reach a driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nslb.model.enums import L4_PROTOCOL
from nslb.model.resources import (
    Amphora,
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Network,
    Pool,
    Port,
    Subnet,
)
from nslb.model.tls import ListenerTls, PoolTls


@dataclass(frozen=True)
class Attachment:
    """A port of the LB's namespace on one subnet: the VIP port, or a member-network port."""

    port: Port
    subnet: Subnet
    network: Network

    @property
    def address(self) -> str:
        for ip in self.port.fixed_ips:
            if ip["subnet_id"] == self.subnet.id:
                return ip["ip_address"]
        raise LookupError(f"port {self.port.id} has no address on subnet {self.subnet.id}")


@dataclass(frozen=True)
class LoadBalancerSnapshot:
    lb: LoadBalancer
    vip: Attachment
    member_ports: tuple[Attachment, ...] = ()
    listeners: tuple[Listener, ...] = ()
    pools: tuple[Pool, ...] = ()
    members: tuple[Member, ...] = ()
    healthmonitors: tuple[HealthMonitor, ...] = ()
    l7policies: tuple[L7Policy, ...] = ()
    l7rules: tuple[L7Rule, ...] = ()
    generation: int = field(default=0)
    # The amphorae that serve this LB (one STANDALONE, or a MASTER and a BACKUP).
    amphorae: tuple[Amphora, ...] = ()
    # The own ports of each amphora of an ACTIVE_STANDBY pair: its VRRP port on the VIP
    # subnet first, then its member-network ports. (A STANDALONE amphora plugs the LB's VIP
    # port and member ports: `attachments()`.)
    amphora_ports: dict[str, tuple[Attachment, ...]] = field(default_factory=dict)
    # TLS material by listener id (TERMINATED_HTTPS) and pool id (tls_enabled), read from
    # the key manager by the worker just before rendering (nslb.tls.material).
    tls: dict[str, ListenerTls | PoolTls] = field(default_factory=dict)
    # VXLAN networks of the LB's ports: network id -> {host id: underlay address} of the
    # hosts that have a port on the network (nslb.db.snapshots.vxlan_hosts); each amphora
    # floods to the others (head-end replication).
    vxlan_hosts: dict[str, dict[str, str]] = field(default_factory=dict)

    def listener_tls(self, listener_id: str) -> ListenerTls | None:
        found = self.tls.get(listener_id)
        return found if isinstance(found, ListenerTls) else None

    def pool_tls(self, pool_id: str) -> PoolTls | None:
        found = self.tls.get(pool_id)
        return found if isinstance(found, PoolTls) else None

    def pool(self, pool_id: str | None) -> Pool | None:
        return next((p for p in self.pools if p.id == pool_id), None)

    def members_of(self, pool_id: str) -> list[Member]:
        return [m for m in self.members if m.pool_id == pool_id]

    def healthmonitor_of(self, pool_id: str) -> HealthMonitor | None:
        return next((h for h in self.healthmonitors if h.pool_id == pool_id), None)

    def policies_of(self, listener_id: str) -> list[L7Policy]:
        """The listener's L7 policies in position order."""
        return sorted((p for p in self.l7policies if p.listener_id == listener_id),
                      key=lambda p: p.position)

    def rules_of(self, policy_id: str) -> list[L7Rule]:
        return [r for r in self.l7rules if r.l7policy_id == policy_id]

    def attachments(self) -> tuple[Attachment, ...]:
        return (self.vip, *self.member_ports)

    def problems(self) -> list[str]:
        """Every dangling reference or clash in the snapshot; empty means consistent."""
        found: list[str] = []
        pool_ids = {p.id for p in self.pools}
        ports: dict[tuple[str, int], str] = {}
        for listener in self.listeners:
            if listener.loadbalancer_id != self.lb.id:
                found.append(f"listener {listener.id} belongs to another load balancer")
            if listener.default_pool_id and listener.default_pool_id not in pool_ids:
                found.append(f"listener {listener.id} uses missing pool {listener.default_pool_id}")
            # TCP 53 and UDP 53 may share an LB; two listeners of one layer-4 protocol not.
            key = (L4_PROTOCOL.get(listener.protocol, listener.protocol), listener.protocol_port)
            if key in ports:
                found.append(f"listeners {ports[key]} and {listener.id} "
                             f"share port {listener.protocol_port}")
            ports[key] = listener.id
            if listener.protocol == "TERMINATED_HTTPS":
                material = self.listener_tls(listener.id)
                if material is None or not (material.default or material.sni):
                    found.append(f"listener {listener.id} has no certificate material")
        for pool in self.pools:
            if pool.tls_enabled and self.pool_tls(pool.id) is None:
                found.append(f"pool {pool.id} has no TLS material")
        for member in self.members:
            if member.pool_id not in pool_ids:
                found.append(f"member {member.id} belongs to missing pool {member.pool_id}")
        subnets = {a.subnet.id for a in self.attachments()}
        for member in self.members:
            if member.subnet_id and member.subnet_id not in subnets:
                found.append(f"member {member.id} is on subnet {member.subnet_id} "
                             "that the load balancer is not plugged into")
        listener_ids = {li.id for li in self.listeners}
        for policy in self.l7policies:
            if policy.listener_id not in listener_ids:
                found.append(f"l7policy {policy.id} belongs to missing listener "
                             f"{policy.listener_id}")
            if policy.redirect_pool_id and policy.redirect_pool_id not in pool_ids:
                found.append(f"l7policy {policy.id} redirects to missing pool "
                             f"{policy.redirect_pool_id}")
        policy_ids = {p.id for p in self.l7policies}
        for rule in self.l7rules:
            if rule.l7policy_id not in policy_ids:
                found.append(f"l7rule {rule.id} belongs to missing policy {rule.l7policy_id}")
        seen: set[str] = set()
        for hm in self.healthmonitors:
            if hm.pool_id not in pool_ids:
                found.append(f"health monitor {hm.id} belongs to missing pool {hm.pool_id}")
            if hm.pool_id in seen:
                found.append(f"pool {hm.pool_id} has more than one health monitor")
            seen.add(hm.pool_id)
        return found
