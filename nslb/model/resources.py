"""Domain objects. The db room maps these same classes onto tables (imperative mapping),
so there is one representation of each resource, converted only to and from JSON at the API.

Relations are plain id fields: repositories load children explicitly, which keeps objects
safe to hand to other threads once their session is gone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Naive UTC, second precision: Octavia prints timestamps without a zone suffix."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@dataclass(kw_only=True, eq=False)
class Resource:
    """Fields shared by every Octavia object that has a status."""

    id: str = field(default_factory=new_id)
    project_id: str = ""
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    provisioning_status: str = "PENDING_CREATE"
    operating_status: str = "OFFLINE"
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


@dataclass(kw_only=True, eq=False)
class LoadBalancer(Resource):
    vip_address: str = ""
    vip_port_id: str = ""
    vip_subnet_id: str = ""
    vip_network_id: str = ""
    vip_qos_policy_id: str | None = None
    provider: str = "amphora"
    flavor_id: str | None = None
    availability_zone: str | None = None
    # Bumped by every API change in the LB's tree; the worker records what it applied.
    generation: int = 1
    applied_generation: int = 0


# The roles of an ACTIVE_STANDBY pair with Octavia's VRRP priorities: the first election
# makes MASTER the VIP holder, and `nopreempt` keeps whichever holds it after that.
VRRP_PRIORITY = {"MASTER": 100, "BACKUP": 90}


@dataclass(kw_only=True, eq=False)
class Amphora:
    """One running copy of a load balancer's data plane (Octavia's amphora): a namespace
    `nslb-<id>` with its haproxy (and later keepalived) on host `compute_id`, files under
    `<state-dir>/amphora/<id>/`. A SINGLE LB has one (STANDALONE); an ACTIVE_STANDBY LB two.

    `generation` is the LB generation this amphora should serve; `applied_generation` and
    `applied_hash` are what its data plane *confirmed* (a config written to disk but not
    yet loaded is not applied).
    """

    id: str = field(default_factory=new_id)
    loadbalancer_id: str | None = None
    compute_id: str | None = None
    lb_network_ip: str | None = None
    vrrp_ip: str | None = None
    ha_ip: str | None = None
    vrrp_port_id: str | None = None
    ha_port_id: str | None = None
    role: str | None = "STANDALONE"
    status: str = "PENDING_CREATE"
    vrrp_interface: str | None = None
    vrrp_id: int | None = None
    vrrp_priority: int | None = None
    cached_zone: str | None = None
    image_id: str | None = None
    compute_flavor: str | None = None
    cert_expiration: datetime | None = None
    cert_busy: bool = False
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None
    applied_generation: int = 0
    applied_hash: str | None = None


@dataclass(kw_only=True, eq=False)
class Listener(Resource):
    loadbalancer_id: str = ""
    protocol: str = "HTTP"
    protocol_port: int = 80
    connection_limit: int = -1
    default_pool_id: str | None = None
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    allowed_cidrs: list[str] = field(default_factory=list)
    insert_headers: dict[str, str] = field(default_factory=dict)
    # Log every connection (HTTP: every request) to the LB's access log. Octavia has this
    # as a deployment option ([haproxy_amphora] connection_logging); nslb takes it per
    # listener too, with the same default.
    connection_logging: bool = True
    # TLS termination (TERMINATED_HTTPS): key-manager refs, never the material itself.
    default_tls_container_ref: str | None = None
    sni_container_refs: list[str] = field(default_factory=list)
    client_ca_tls_container_ref: str | None = None
    client_authentication: str = "NONE"
    client_crl_container_ref: str | None = None
    tls_ciphers: str | None = None
    tls_versions: list[str] | None = None
    alpn_protocols: list[str] | None = None
    hsts_max_age: int | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False


@dataclass(kw_only=True, eq=False)
class Pool(Resource):
    loadbalancer_id: str = ""
    protocol: str = "HTTP"
    lb_algorithm: str = "ROUND_ROBIN"
    session_persistence: dict[str, Any] | None = None
    tls_enabled: bool = False
    # Re-encryption to the members: client certificate, CA and CRL refs, TLS options.
    tls_container_ref: str | None = None
    ca_tls_container_ref: str | None = None
    crl_container_ref: str | None = None
    tls_ciphers: str | None = None
    tls_versions: list[str] | None = None
    alpn_protocols: list[str] | None = None


@dataclass(kw_only=True, eq=False)
class Member(Resource):
    pool_id: str = ""
    loadbalancer_id: str = ""
    address: str = ""
    protocol_port: int = 80
    weight: int = 1
    backup: bool = False
    subnet_id: str | None = None
    monitor_address: str | None = None
    monitor_port: int | None = None
    operating_status: str = "NO_MONITOR"


@dataclass(kw_only=True, eq=False)
class HealthMonitor(Resource):
    pool_id: str = ""
    loadbalancer_id: str = ""
    type: str = "HTTP"
    delay: int = 5
    timeout: int = 5
    max_retries: int = 3
    max_retries_down: int = 3
    http_method: str | None = None
    url_path: str | None = None
    expected_codes: str | None = None
    http_version: float | None = None
    domain_name: str | None = None


@dataclass(kw_only=True, eq=False)
class L7Policy(Resource):
    """What a listener does with a request its rules match (Octavia's L7 policy)."""

    listener_id: str = ""
    loadbalancer_id: str = ""
    action: str = "REJECT"
    redirect_pool_id: str | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None
    position: int = 1
    # FIXED_RESPONSE (nslb extension)
    fixed_response_status_code: int | None = None
    fixed_response_content_type: str | None = None
    fixed_response_body: str | None = None


@dataclass(kw_only=True, eq=False)
class L7Rule(Resource):
    """One condition of an L7 policy; a policy matches when all its enabled rules do."""

    l7policy_id: str = ""
    loadbalancer_id: str = ""
    type: str = "PATH"
    compare_type: str = "EQUAL_TO"
    key: str | None = None
    value: str = ""
    invert: bool = False


@dataclass(kw_only=True, eq=False)
class Quota:
    project_id: str
    loadbalancer: int | None = None
    listener: int | None = None
    pool: int | None = None
    member: int | None = None
    healthmonitor: int | None = None
    l7policy: int | None = None
    l7rule: int | None = None


QUOTA_RESOURCES = ("loadbalancer", "listener", "pool", "member", "healthmonitor",
                   "l7policy", "l7rule")


# --- Neutron-compatible network registry -------------------------------------------------


@dataclass(kw_only=True, eq=False)
class Network:
    id: str = field(default_factory=new_id)
    project_id: str = ""
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    shared: bool = False
    mtu: int = 1500
    network_type: str = "flat"
    physical_network: str | None = None
    segmentation_id: int | None = None
    status: str = "ACTIVE"
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


@dataclass(kw_only=True, eq=False)
class Subnet:
    id: str = field(default_factory=new_id)
    project_id: str = ""
    network_id: str = ""
    name: str = ""
    description: str = ""
    ip_version: int = 4
    cidr: str = ""
    gateway_ip: str | None = None
    allocation_pools: list[dict[str, str]] = field(default_factory=list)
    host_routes: list[dict[str, str]] = field(default_factory=list)
    dns_nameservers: list[str] = field(default_factory=list)
    enable_dhcp: bool = False
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


@dataclass(kw_only=True, eq=False)
class Port:
    id: str = field(default_factory=new_id)
    project_id: str = ""
    network_id: str = ""
    name: str = ""
    description: str = ""
    admin_state_up: bool = True
    mac_address: str = ""
    fixed_ips: list[dict[str, str]] = field(default_factory=list)
    device_owner: str = ""
    device_id: str = ""
    status: str = "ACTIVE"
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


# --- floating IPs (Neutron's l3 subset) ----------------------------------------------------


@dataclass(kw_only=True, eq=False)
class FloatingIP:
    """A Neutron floating IP: an address of an external network, held by a registry port
    (`floating_port_id`, device_owner network:floatingip), optionally NATed to one fixed
    IPv4 address of a port. `router_id` is the FloatingRouter that does the NAT."""

    id: str = field(default_factory=new_id)
    project_id: str = ""
    description: str = ""
    floating_network_id: str = ""
    floating_subnet_id: str = ""
    floating_port_id: str = ""
    floating_ip_address: str = ""
    fixed_port_id: str | None = None
    fixed_ip_address: str | None = None
    router_id: str | None = None
    status: str = "DOWN"
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


@dataclass(kw_only=True, eq=False)
class FloatingRouter:
    """nslb's implicit Neutron router: one per internal subnet that has a floating IP,
    holding the subnet's gateway address (registry port `port_id`) and a gateway on one
    external network, as a Neutron router with an interface on the subnet would."""

    id: str = field(default_factory=new_id)
    subnet_id: str = ""
    network_id: str = ""
    port_id: str = ""
    external_network_id: str = ""
    created_at: datetime = field(default_factory=utcnow)


# --- flavors (Octavia's flavor profiles and flavors) -----------------------------------------


@dataclass(kw_only=True, eq=False)
class FlavorProfile:
    """What a flavor means to one provider: `flavor_data` is the JSON text the operator
    sent, kept verbatim (Octavia returns it as a string), checked against the provider's
    schema whenever it or the provider changes."""

    id: str = field(default_factory=new_id)
    name: str = ""
    provider_name: str = ""
    flavor_data: str = "{}"
    created_at: datetime = field(default_factory=utcnow)


@dataclass(kw_only=True, eq=False)
class Flavor:
    """A named choice offered to users on LB create; global, not owned by a project."""

    id: str = field(default_factory=new_id)
    name: str = ""
    description: str = ""
    enabled: bool = True
    flavor_profile_id: str = ""
    created_at: datetime = field(default_factory=utcnow)
