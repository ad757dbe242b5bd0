"""Table definitions, imperatively mapped onto nslb.model.resources classes.

Uniqueness rules that must hold under concurrency live here as constraints, not only in
handlers: one listener per LB port, one member per pool address:port, one health monitor
per pool, one VLAN id per physical network, one owner per IP address in a subnet.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import registry

from nslb.db.types import JSONText
from nslb.model import identity as ident
from nslb.model import placement as pl
from nslb.model import resources as r
from nslb.model import secrets as km

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
mapper_registry = registry(metadata=metadata)

ID = String(36)


def _common() -> list[Column]:  # type: ignore[type-arg]
    return [
        Column("id", ID, primary_key=True),
        Column("project_id", String(255), nullable=False, index=True),
        Column("name", String(255), nullable=False, default=""),
        Column("description", String(255), nullable=False, default=""),
        Column("admin_state_up", Boolean, nullable=False, default=True),
        Column("provisioning_status", String(16), nullable=False),
        Column("operating_status", String(16), nullable=False),
        Column("tags", JSONText, nullable=False, default=list),
        Column("created_at", DateTime, nullable=False, index=True),
        Column("updated_at", DateTime),
    ]


load_balancer = Table(
    "load_balancer", metadata, *_common(),
    Column("vip_address", String(64), nullable=False),
    Column("vip_port_id", ID, nullable=False),
    Column("vip_subnet_id", ID, nullable=False),
    Column("vip_network_id", ID, nullable=False),
    Column("vip_qos_policy_id", ID),
    Column("provider", String(64), nullable=False),
    Column("flavor_id", ID),
    Column("availability_zone", String(255)),
    Column("generation", Integer, nullable=False, default=1),
    Column("applied_generation", Integer, nullable=False, default=0),
)

amphora = Table(
    "amphora", metadata,
    Column("id", ID, primary_key=True),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), index=True),
    Column("compute_id", String(255)),
    Column("lb_network_ip", String(64)),
    Column("vrrp_ip", String(64)),
    Column("ha_ip", String(64)),
    Column("vrrp_port_id", ID),
    Column("ha_port_id", ID),
    Column("role", String(36)),
    Column("status", String(36), nullable=False, index=True),
    Column("vrrp_interface", String(16)),
    Column("vrrp_id", Integer),
    Column("vrrp_priority", Integer),
    Column("cached_zone", String(255)),
    Column("image_id", String(36)),
    Column("compute_flavor", String(255)),
    Column("cert_expiration", DateTime),
    Column("cert_busy", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    # What the amphora's data plane confirmed it serves (see nslb.model.resources.Amphora).
    Column("applied_generation", BigInteger, nullable=False, default=0),
    Column("applied_hash", String(64)),
)

listener = Table(
    "listener", metadata, *_common(),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), nullable=False, index=True),
    Column("protocol", String(32), nullable=False),
    Column("protocol_port", Integer, nullable=False),
    Column("connection_limit", Integer, nullable=False),
    Column("default_pool_id", ID),  # checked by the API; pools and listeners refer both ways
    Column("timeout_client_data", Integer, nullable=False),
    Column("timeout_member_connect", Integer, nullable=False),
    Column("timeout_member_data", Integer, nullable=False),
    Column("timeout_tcp_inspect", Integer, nullable=False),
    Column("allowed_cidrs", JSONText, nullable=False),
    Column("insert_headers", JSONText, nullable=False),
    # TLS termination (migration 0014); refs only, the material stays in the key manager.
    Column("default_tls_container_ref", String(255)),
    Column("sni_container_refs", JSONText, nullable=False, default=list),
    Column("client_ca_tls_container_ref", String(255)),
    Column("client_authentication", String(16), nullable=False, default="NONE"),
    Column("client_crl_container_ref", String(255)),
    Column("tls_ciphers", String(2048)),
    Column("tls_versions", JSONText),
    Column("alpn_protocols", JSONText),
    Column("hsts_max_age", Integer),
    Column("hsts_include_subdomains", Boolean, nullable=False, default=False),
    Column("hsts_preload", Boolean, nullable=False, default=False),
    # migration 0012: existing listeners log, as Octavia's default does
    Column("connection_logging", Boolean, nullable=False, default=True,
           server_default=true()),
    # Octavia's: UDP 53 may sit next to TCP 53; the API refuses HTTP 80 next to TCP 80.
    UniqueConstraint("loadbalancer_id", "protocol", "protocol_port",
                     name="uq_listener_lb_protocol_port"),
)

pool = Table(
    "pool", metadata, *_common(),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), nullable=False, index=True),
    Column("protocol", String(32), nullable=False),
    Column("lb_algorithm", String(32), nullable=False),
    Column("session_persistence", JSONText),
    Column("tls_enabled", Boolean, nullable=False, default=False),
    # Re-encryption to members (migration 0012).
    Column("tls_container_ref", String(255)),
    Column("ca_tls_container_ref", String(255)),
    Column("crl_container_ref", String(255)),
    Column("tls_ciphers", String(2048)),
    Column("tls_versions", JSONText),
    Column("alpn_protocols", JSONText),
)

member = Table(
    "member", metadata, *_common(),
    Column("pool_id", ID, ForeignKey("pool.id"), nullable=False, index=True),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), nullable=False, index=True),
    Column("address", String(64), nullable=False),
    Column("protocol_port", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("backup", Boolean, nullable=False),
    Column("subnet_id", ID),
    Column("monitor_address", String(64)),
    Column("monitor_port", Integer),
    UniqueConstraint("pool_id", "address", "protocol_port", name="uq_member_pool_address_port"),
)

health_monitor = Table(
    "health_monitor", metadata, *_common(),
    Column("pool_id", ID, ForeignKey("pool.id"), nullable=False, unique=True),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), nullable=False, index=True),
    Column("type", String(36), nullable=False),
    Column("delay", Integer, nullable=False),
    Column("timeout", Integer, nullable=False),
    Column("max_retries", Integer, nullable=False),
    Column("max_retries_down", Integer, nullable=False),
    Column("http_method", String(16)),
    Column("url_path", String(2048)),
    Column("expected_codes", String(64)),
    Column("http_version", Float),
    Column("domain_name", String(255)),
)

l7policy = Table(
    "l7policy", metadata, *_common(),
    Column("listener_id", ID, ForeignKey("listener.id"), nullable=False, index=True),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), nullable=False, index=True),
    Column("action", String(36), nullable=False),
    Column("redirect_pool_id", ID, ForeignKey("pool.id")),
    Column("redirect_url", String(255)),
    Column("redirect_prefix", String(255)),
    Column("redirect_http_code", Integer),
    Column("position", Integer, nullable=False),
    Column("fixed_response_status_code", Integer),
    Column("fixed_response_content_type", String(64)),
    Column("fixed_response_body", String(1024)),
)

l7rule = Table(
    "l7rule", metadata, *_common(),
    Column("l7policy_id", ID, ForeignKey("l7policy.id"), nullable=False, index=True),
    Column("loadbalancer_id", ID, ForeignKey("load_balancer.id"), nullable=False, index=True),
    Column("type", String(36), nullable=False),
    Column("compare_type", String(36), nullable=False),
    Column("key", String(255)),
    Column("value", String(255), nullable=False),
    Column("invert", Boolean, nullable=False),
)

quota = Table(
    "quota", metadata,
    Column("project_id", String(255), primary_key=True),
    *[Column(name, Integer) for name in r.QUOTA_RESOURCES],
)

listener_statistics = Table(
    "listener_statistics", metadata,
    Column("listener_id", ID, primary_key=True),
    Column("loadbalancer_id", ID, nullable=False, index=True),
    # Totals carried over from earlier haproxy processes, plus the last raw reading.
    # 64-bit: a busy listener passes 2**31 bytes within minutes (int4 on PostgreSQL).
    Column("bytes_in", BigInteger, nullable=False, default=0),
    Column("bytes_out", BigInteger, nullable=False, default=0),
    Column("total_connections", BigInteger, nullable=False, default=0),
    Column("request_errors", BigInteger, nullable=False, default=0),
    Column("active_connections", BigInteger, nullable=False, default=0),
    Column("process_start", Float, nullable=False, default=0.0),
    Column("raw", JSONText, nullable=False, default=dict),
)

network = Table(
    "network", metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("admin_state_up", Boolean, nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("mtu", Integer, nullable=False),
    Column("network_type", String(16), nullable=False),
    Column("physical_network", String(64)),
    Column("segmentation_id", Integer),
    Column("status", String(16), nullable=False),
    Column("tags", JSONText, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime),
    UniqueConstraint("physical_network", "segmentation_id", name="uq_network_physnet_vlan"),
)

subnet = Table(
    "subnet", metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("network_id", ID, ForeignKey("network.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("ip_version", Integer, nullable=False),
    Column("cidr", String(64), nullable=False),
    Column("gateway_ip", String(64)),
    Column("allocation_pools", JSONText, nullable=False),
    Column("host_routes", JSONText, nullable=False),
    Column("dns_nameservers", JSONText, nullable=False),
    Column("enable_dhcp", Boolean, nullable=False),
    Column("tags", JSONText, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime),
)

port = Table(
    "port", metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("network_id", ID, ForeignKey("network.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("admin_state_up", Boolean, nullable=False),
    Column("mac_address", String(32), nullable=False),
    Column("fixed_ips", JSONText, nullable=False),
    Column("device_owner", String(255), nullable=False),
    Column("device_id", String(255), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("tags", JSONText, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime),
)

# One row per address handed out: the primary key makes double allocation impossible.
ip_allocation = Table(
    "ip_allocation", metadata,
    Column("subnet_id", ID, ForeignKey("subnet.id"), primary_key=True),
    Column("ip_address", String(64), primary_key=True),
    Column("port_id", ID, ForeignKey("port.id"), nullable=False, index=True),
)

# One VRRP router id per ACTIVE_STANDBY load balancer and VIP network: the primary key keeps
# two pairs on one segment apart, even when they are created at the same time.
vrrp_group = Table(
    "vrrp_group", metadata,
    Column("network_id", ID, primary_key=True),
    Column("vrrp_id", Integer, primary_key=True),
    Column("loadbalancer_id", ID, nullable=False, unique=True),
)

# --- identity (embedded Keystone subset) --------------------------------------------------

project = Table(
    "project", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("description", String(255), nullable=False),
    Column("domain_id", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Keystone's `extra`: body keys that are not attributes (nslb/identity/extras.py).
    Column("extra", JSONText, nullable=False, default=dict, server_default="{}"),
    UniqueConstraint("domain_id", "name", name="uq_project_domain_name"),
)

user = Table(
    "user", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("domain_id", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("default_project_id", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("tokens_valid_after", DateTime),
    Column("extra", JSONText, nullable=False, default=dict, server_default="{}"),
    UniqueConstraint("domain_id", "name", name="uq_user_domain_name"),
)

role = Table(
    "role", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

role_assignment = Table(
    "role_assignment", metadata,
    Column("user_id", String(64), ForeignKey("user.id"), primary_key=True),
    Column("project_id", String(64), ForeignKey("project.id"), primary_key=True),
    Column("role_id", String(64), ForeignKey("role.id"), primary_key=True),
)

revoked_token = Table(
    "revoked_token", metadata,
    Column("audit_id", String(64), primary_key=True),
    Column("expires_at", DateTime, nullable=False, index=True),
)

_MAPPED = {
    r.LoadBalancer: load_balancer,
    r.Amphora: amphora,
    r.Listener: listener,
    r.Pool: pool,
    r.Member: member,
    r.HealthMonitor: health_monitor,
    r.L7Policy: l7policy,
    r.L7Rule: l7rule,
    r.Quota: quota,
    r.Network: network,
    r.Subnet: subnet,
    r.Port: port,
    ident.Project: project,
    ident.User: user,
    ident.Role: role,
    ident.RoleAssignment: role_assignment,
    ident.RevokedToken: revoked_token,
}

# The orders lists read in (migration 0022). A project's page (project_id =, ORDER BY
# created_at, id) is read off the index in order instead of sorted in a temporary B-tree,
# and the child ids of a page (parent IN (...), then created_at, id) come from the index
# alone, without visiting the table. Names are explicit: two columns on, the naming
# convention's `column_0_label` would repeat the single-column indexes' names.
LIST_ORDER_INDEXES = (
    Index("ix_load_balancer_list_order", load_balancer.c.project_id,
          load_balancer.c.created_at, load_balancer.c.id),
    Index("ix_listener_list_order", listener.c.project_id, listener.c.created_at,
          listener.c.id),
    Index("ix_pool_list_order", pool.c.project_id, pool.c.created_at, pool.c.id),
    Index("ix_health_monitor_list_order", health_monitor.c.project_id,
          health_monitor.c.created_at, health_monitor.c.id),
    Index("ix_member_list_order", member.c.pool_id, member.c.created_at, member.c.id),
    Index("ix_listener_lb_order", listener.c.loadbalancer_id, listener.c.created_at,
          listener.c.id),
    Index("ix_pool_lb_order", pool.c.loadbalancer_id, pool.c.created_at, pool.c.id),
)


def map_models() -> None:
    """Attach the tables to the model classes once per process."""
    for cls, table in _MAPPED.items():
        if not hasattr(cls, "__mapper__"):
            mapper_registry.map_imperatively(cls, table)


def table_of(cls: type) -> Table:
    return _MAPPED[cls]


# --- floating IPs ----------------------------------------------------------------------------

# Neutron's externalnetworks: a row makes a network `router:external` (no foreign key: the
# network API removes the row with the network).
external_network = Table(
    "external_network", metadata,
    Column("network_id", ID, primary_key=True),
    Column("is_default", Boolean, nullable=False, default=False),
)

# One address per external network (the port's ip_allocation makes it unique per subnet as
# well), and at most one floating IP per fixed address of a port.
floating_ip = Table(
    "floating_ip", metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("description", String(255), nullable=False),
    Column("floating_network_id", ID, nullable=False, index=True),
    Column("floating_subnet_id", ID, nullable=False),
    Column("floating_port_id", ID, nullable=False, unique=True),
    Column("floating_ip_address", String(64), nullable=False),
    Column("fixed_port_id", ID, index=True),
    Column("fixed_ip_address", String(64)),
    Column("router_id", ID, index=True),
    Column("status", String(16), nullable=False),
    Column("tags", JSONText, nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime),
    UniqueConstraint("floating_network_id", "floating_ip_address",
                     name="uq_floating_ip_network_address"),
    UniqueConstraint("fixed_port_id", "fixed_ip_address", name="uq_floating_ip_fixed"),
)

# The implicit router of an internal subnet: the unique subnet_id keeps two routers from
# claiming one gateway address, even when they are created at the same time.
floating_router = Table(
    "floating_router", metadata,
    Column("id", ID, primary_key=True),
    Column("subnet_id", ID, nullable=False, unique=True),
    Column("network_id", ID, nullable=False),
    Column("port_id", ID, nullable=False),
    Column("external_network_id", ID, nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
)

_MAPPED[r.FloatingIP] = floating_ip
_MAPPED[r.FloatingRouter] = floating_router

# --- flavors ----------------------------------------------------------------------------------

flavor_profile = Table(
    "flavor_profile", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("provider_name", String(255), nullable=False),
    Column("flavor_data", String(4096), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Names are unique (Octavia's uq_flavor_name); the foreign key keeps a profile from going
# while a flavor that a concurrent request just created uses it.
flavor = Table(
    "flavor", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("flavor_profile_id", ID, ForeignKey("flavor_profile.id"), nullable=False,
           index=True),
    Column("created_at", DateTime, nullable=False),
)

_MAPPED[r.FlavorProfile] = flavor_profile
_MAPPED[r.Flavor] = flavor

# --- key manager (Barbican v1 subset) ---------------------------------------------------------

# Secrets of the embedded key manager. Ids are canonical UUID strings (Barbican's refs end in
# one). The payload is a separate row (km_secret_payload), sealed by nslb/secrets/crypto.py.
km_secret = Table(
    "km_secret", metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("creator_id", String(255)),
    Column("name", String(255)),
    Column("secret_type", String(80), nullable=False),
    Column("algorithm", String(255)),
    Column("bit_length", Integer),
    Column("mode", String(255)),
    Column("expiration", DateTime),
    Column("content_type", String(255)),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime, nullable=False),
)

# key_id names the payload key that sealed the row, so a rotation knows which keys are
# still in use before it removes any.
km_secret_payload = Table(
    "km_secret_payload", metadata,
    Column("secret_id", ID, ForeignKey("km_secret.id"), primary_key=True),
    Column("key_id", Integer, nullable=False, index=True),
    Column("ciphertext", LargeBinary, nullable=False),
)

km_container = Table(
    "km_container", metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("creator_id", String(255)),
    Column("name", String(255)),
    Column("type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False, index=True),
    Column("updated_at", DateTime, nullable=False),
)

# No foreign key to km_secret: as in Barbican, deleting a secret leaves the reference. One
# secret may appear under several names (POST .../containers/{id}/secrets), hence the key.
km_container_secret = Table(
    "km_container_secret", metadata,
    Column("container_id", ID, ForeignKey("km_container.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("secret_id", ID, nullable=False, index=True),
    Column("name", String(255)),
)

# The read ACL of a secret or a container, and its users.
km_acl = Table(
    "km_acl", metadata,
    Column("entity_id", ID, primary_key=True),
    Column("operation", String(20), primary_key=True),
    Column("entity_type", String(20), nullable=False),
    Column("project_access", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

km_acl_user = Table(
    "km_acl_user", metadata,
    Column("entity_id", ID, primary_key=True),
    Column("operation", String(20), primary_key=True),
    Column("user_id", String(255), primary_key=True, index=True),
)

km_secret_consumer = Table(
    "km_secret_consumer", metadata,
    Column("id", ID, primary_key=True),
    Column("secret_id", ID, ForeignKey("km_secret.id"), nullable=False, index=True),
    Column("project_id", String(255), nullable=False),
    Column("service", String(255), nullable=False),
    Column("resource_type", String(255), nullable=False),
    Column("resource_id", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("secret_id", "service", "resource_type", "resource_id",
                     name="uq_km_secret_consumer_resource"),
)

_MAPPED[km.Secret] = km_secret
_MAPPED[km.SecretPayload] = km_secret_payload
_MAPPED[km.SecretContainer] = km_container
_MAPPED[km.ContainerSecret] = km_container_secret
_MAPPED[km.KeyManagerAcl] = km_acl
_MAPPED[km.KeyManagerAclUser] = km_acl_user
_MAPPED[km.SecretConsumer] = km_secret_consumer


# --- events ----------------------------------------------------------------------------------

# The outbox of notifications (nslb/events): written in the transaction of the change it
# tells about, published in `seq` order by one thread, kept a while after delivery for
# `recent()`. No foreign key: an event outlives the load balancer it is about. `body` is
# the exact Kafka value (oslo.messaging's envelope), fixed when the row is written, so a
# re-send after a crash sends the same bytes and message_id.
event_outbox = Table(
    "event_outbox", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("message_id", String(36), nullable=False, unique=True),
    Column("loadbalancer_id", String(36), index=True),
    Column("project_id", String(255), index=True),
    Column("generation", Integer),
    Column("event_type", String(255), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("delivered_at", DateTime, index=True),
    sqlite_autoincrement=True,
)


# --- hosts (agents over mutual TLS, nslb/pki) ------------------------------------------------

# One row per host that joined with a join token: its agent is reached at address:port
# over mutual TLS with the certificate whose serial and expiry are kept here. `state` is
# UP or DOWN (as the remote driver last reached it). Capacity: what the agent reported.
host = Table(
    "host", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("address", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("cert_serial", String(64)),
    Column("cert_expiry", DateTime),
    Column("max_amphorae", Integer, nullable=False, default=0),
    Column("cpu_count", Integer, nullable=False, default=0),
    Column("memory_mb", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
    # The host's end of VXLAN tunnels (`nslb agent run --underlay-address`), from its facts.
    Column("underlay_address", String(64)),
    # ACTIVE, DRAINING (its amphorae are being failed over elsewhere) or DRAINED (it
    # carries none); only ACTIVE hosts get new amphorae (nslb/hosts/drain.py)
    Column("admin_state", String(16), nullable=False, default="ACTIVE",
           server_default="ACTIVE"),
)

# One-time join tokens: only the secret's sha256 is kept; `used_at` is set by the one
# join that consumed it (compare-and-set), `host_id` is the host it made.
join_token = Table(
    "join_token", metadata,
    Column("id", String(16), primary_key=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("used_at", DateTime),
    Column("host_id", ID),
)

# Serials of certificates revoked before their expiry (a removed host's), checked on every
# connection by the controller and, through the list they fetch, by the agents.
revoked_cert = Table(
    "revoked_cert", metadata,
    Column("serial", String(64), primary_key=True),
    Column("host_id", ID),
    Column("revoked_at", DateTime, nullable=False),
)

# --- controllers -----------------------------------------------------------------------------

# Units of work claimed by one controller of several sharing a PostgreSQL database
# (nslb/db/leases.py): `name` is the unit ("lb:<id>", "outbox", "floating"), `owner` the
# controller id, `expires_at` seconds since the epoch on the database's clock (never a
# controller's, which may be skewed), `term` bumped whenever the owner changes (a fencing
# token: work settled under an older term is refused).
controller_lease = Table(
    "controller_lease", metadata,
    Column("name", String(255), primary_key=True),
    Column("owner", String(255), nullable=False, index=True),
    Column("expires_at", Float, nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("term", BigInteger, nullable=False),
)

# Small facts every controller must see the same: a counter bumped after every identity
# change (token validation caches compare it, nslb/identity/service.py) and the login
# throttle's salt.
cluster_state = Table(
    "cluster_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("counter", BigInteger, nullable=False),
    Column("value", Text),
)

# The failed-login throttle shared by controllers (nslb/identity/shared_throttle.py): one
# row per salted digest of (source, user) or (source); times on the database's clock.
login_throttle = Table(
    "login_throttle", metadata,
    Column("key", String(32), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("closed_until", Float, nullable=False),
    Column("seen", Float, nullable=False, index=True),
)

# --- heartbeats ------------------------------------------------------------------------------

# Octavia's amphora_health, plus the last seq accepted (nslb/heartbeat/freshness.py). A row
# exists for every amphora watched through heartbeats from the moment the amphora row is
# inserted (nslb/heartbeat/watch.py), so an amphora that never sends one is still seen
# silent; `last_update` is its creation until a first heartbeat arrives. `busy`: a failover
# for the silence was requested (Octavia's flag). No foreign key: the row goes in the
# flush that deletes the amphora.
amphora_health = Table(
    "amphora_health", metadata,
    Column("amphora_id", ID, primary_key=True),
    Column("last_update", DateTime, nullable=False),
    Column("busy", Boolean, nullable=False, default=False),
    Column("last_seq", BigInteger, nullable=False, default=0),
)

# --- placement: Octavia availability zones, Nova-style compute flavors and aggregates ---------

availability_zone_profile = Table(
    "availability_zone_profile", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("provider_name", String(255), nullable=False),
    Column("availability_zone_data", String(4096), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Octavia keys an availability zone by its name.
availability_zone = Table(
    "availability_zone", metadata,
    Column("name", String(255), primary_key=True),
    Column("description", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("availability_zone_profile_id", ID, ForeignKey("availability_zone_profile.id"),
           nullable=False),
    Column("created_at", DateTime, nullable=False),
)

_MAPPED[pl.AvailabilityZoneProfile] = availability_zone_profile
_MAPPED[pl.AvailabilityZone] = availability_zone

# The amphora's compute flavor (Nova's flavor: `id` is Nova's flavorid, any string).
compute_flavor = Table(
    "compute_flavor", metadata,
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("ram", Integer, nullable=False),
    Column("vcpus", Integer, nullable=False),
    Column("disk", Integer, nullable=False),
    Column("is_public", Boolean, nullable=False),
    Column("description", String(65535)),
    Column("extra_specs", JSONText, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Nova's host aggregates: `meta` is the aggregate's metadata (key -> value), its hosts are
# agent host names (Nova names hosts, not ids).
compute_aggregate = Table(
    "compute_aggregate", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", ID, nullable=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("availability_zone", String(255)),
    Column("meta", JSONText, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime),
)

compute_aggregate_host = Table(
    "compute_aggregate_host", metadata,
    Column("aggregate_id", Integer, ForeignKey("compute_aggregate.id", ondelete="CASCADE"),
           primary_key=True),
    Column("host", String(255), primary_key=True),
)

# --- host failover ---------------------------------------------------------------------------

# Deletes of amphorae whose host could not be reached (a dead host's, failed over
# elsewhere): done by the remote driver when the host is UP again (nslb/hosts/cleanup.py).
host_cleanup = Table(
    "host_cleanup", metadata,
    Column("amphora_id", ID, primary_key=True),
    Column("host_id", ID, nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
)
