"""Every POST/PUT/PATCH body nslb reads, as the fuzzer sees it: where it goes, a valid body
to start from, the fields the API knows at each place in it, and how to undo a success so
the next request meets the same world.

The world is one keystone-mode app (Octavia, Neutron and Keystone in one process) with:
a VIP network and subnet; an ACTIVE LB with an HTTP listener, a pool with a member and a
health monitor, a spare pool (member and health monitor creates) and a batch pool; a
network, subnet and port to update; and Keystone projects and users that are the targets
of updates, never the admin's own (a fuzzed update may disable them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from nslb.api.keystone import schemas as ks
from nslb.api.neutron import networks, ports, subnets
from nslb.api.octavia import schemas as s
from tests.functional.keystone_helpers import LBAAS, NET, V3, Cloud
from tests.security.fuzzing import Path

PASSWORD = "fuzz-pw-0"
BY_DESIGN_501 = "does not support a requested option"  # Octavia's ProviderUnsupportedOption
Ids = dict[str, str]


def fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(f.alias or name for name, f in model.model_fields.items())


@dataclass(frozen=True)
class FuzzRoute:
    name: str
    api: str  # octavia | neutron | keystone: the fault shape of its errors
    method: str
    url: str  # formatted with the world's ids
    root: str | None  # the envelope key (None: the route reads no body)
    base: Callable[[Ids], Any]
    known: dict[Path, Sequence[str]] = field(default_factory=dict)
    by_design_501: str | None = None  # the 501 nslb answers on purpose here
    # After a 2xx: "delete" what was created (it would conflict with the next success),
    # "password": reset it; Octavia's worker is drained in any case (the LB is locked
    # until then). LBs and pools are left behind: they conflict with nothing.
    undo: str | None = None
    token: bool = True  # sends the admin's X-Auth-Token
    examples: int = 25  # hypothesis examples
    # False: the handler answers before it reads a body (no sweep, a few envelopes)
    sweep: bool = True

    def __str__(self) -> str:
        return self.name


# --- Octavia -----------------------------------------------------------------------

LB = ("loadbalancer",)
LISTENER0 = (*LB, "listeners", 0)
POOL0 = (*LISTENER0, "default_pool")
# A header nslb renders, one it accepts without rendering, one for TLS listeners only.
HEADERS = ("X-Forwarded-For", "X-Real-IP", "X-SSL-Client-CN")
# Nested objects go through the same builders as the single creates (listener-create,
# pool-create, ...), which meet every field the API knows; the tree's sweep adds the
# fields only a tree has. (Every field of the rich base is swept at every level.)
TREE_KNOWN: dict[Path, Sequence[str]] = {
    LISTENER0: ("default_pool", "default_pool_id", "l7policies"),
    POOL0: ("healthmonitor", "members", "listener_id", "loadbalancer_id"),
    (*LB, "pools", 0): ("healthmonitor", "members"),
}


def _member(address: str, ids: Ids) -> dict[str, Any]:
    return {"address": address, "protocol_port": 8080, "name": "m", "admin_state_up": True,
            "weight": 3, "backup": False, "monitor_address": "10.0.5.250",
            "monitor_port": 8081, "subnet_id": ids["vip_subnet"], "tags": ["t"]}


def _hm() -> dict[str, Any]:
    return {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3,
            "max_retries_down": 3, "name": "hm", "admin_state_up": True,
            "http_method": "GET", "url_path": "/health", "expected_codes": "200-204",
            "http_version": 1.1, "domain_name": "example.com", "tags": ["t"]}


def _listener() -> dict[str, Any]:
    return {"name": "web", "description": "d", "admin_state_up": True,
            "connection_limit": 1000, "insert_headers": {"X-Forwarded-For": "true"},
            "timeout_client_data": 50000, "timeout_member_connect": 5000,
            "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
            "allowed_cidrs": ["10.0.0.0/8"], "tags": ["t"]}


def _pool_fields() -> dict[str, Any]:
    return {"name": "web", "description": "d", "admin_state_up": True,
            "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": {"type": "APP_COOKIE", "cookie_name": "sid"},
            "tags": ["t"]}


def _l7policy() -> dict[str, Any]:
    return {"name": "p", "description": "d", "admin_state_up": True, "tags": ["t"],
            "action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/x",
            "redirect_http_code": 301, "position": 1}


def _l7rule() -> dict[str, Any]:
    return {"type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-Key", "value": "v",
            "invert": False, "admin_state_up": True, "tags": ["t"]}


def lb_create(ids: Ids) -> Any:
    return {"loadbalancer": {"name": "fz", "description": "d", "admin_state_up": True,
                             "vip_subnet_id": ids["vip_subnet"], "provider": "amphora",
                             "tags": ["t"]}}


def lb_tree(ids: Ids) -> Any:
    pool = {**_pool_fields(), "protocol": "HTTP", "healthmonitor": _hm(),
            "members": [_member("10.0.5.10", ids)]}
    tcp = {"name": "tcp", "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS",
           "members": [{"address": "10.0.5.12", "protocol_port": 22}]}
    return {"loadbalancer": {
        "name": "tree", "description": "d", "admin_state_up": True, "tags": ["t"],
        "vip_subnet_id": ids["vip_subnet"], "pools": [tcp],
        "listeners": [{**_listener(), "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": pool},
                      {"name": "tcp", "protocol": "TCP", "protocol_port": 2222,
                       "default_pool": {"name": "tcp"}}]}}


def _update(model: type[BaseModel], root: str) -> dict[Path, Sequence[str]]:
    return {(root,): fields(model)}


OCTAVIA = [
    FuzzRoute("lb-create", "octavia", "POST", f"{LBAAS}/loadbalancers", "loadbalancer",
              lb_create, {LB: fields(s.LoadBalancerCreate)}, BY_DESIGN_501),
    FuzzRoute("lb-tree-create", "octavia", "POST", f"{LBAAS}/loadbalancers", "loadbalancer",
              lb_tree, TREE_KNOWN, BY_DESIGN_501, examples=40),
    FuzzRoute("lb-update", "octavia", "PUT", f"{LBAAS}/loadbalancers/{{lb}}", "loadbalancer",
              lambda ids: {"loadbalancer": {"name": "lb", "description": "d",
                                            "admin_state_up": True, "tags": ["t"]}},
              _update(s.LoadBalancerUpdate, "loadbalancer"), BY_DESIGN_501),
    FuzzRoute("listener-create", "octavia", "POST", f"{LBAAS}/listeners", "listener",
              lambda ids: {"listener": {**_listener(), "loadbalancer_id": ids["lb"],
                                        "protocol": "HTTP", "protocol_port": 8081}},
              {("listener",): fields(s.ListenerCreate),
               ("listener", "insert_headers"): HEADERS},
              BY_DESIGN_501, "delete"),
    FuzzRoute("listener-update", "octavia", "PUT", f"{LBAAS}/listeners/{{listener}}",
              "listener", lambda ids: {"listener": {**_listener(),
                                                    "default_pool_id": ids["pool"]}},
              _update(s.ListenerUpdate, "listener"), BY_DESIGN_501),
    FuzzRoute("pool-create", "octavia", "POST", f"{LBAAS}/pools", "pool",
              lambda ids: {"pool": {**_pool_fields(), "protocol": "HTTP",
                                    "loadbalancer_id": ids["lb"]}},
              {("pool",): fields(s.PoolCreate),
               ("pool", "session_persistence"): fields(s.SessionPersistence)},
              BY_DESIGN_501),
    FuzzRoute("pool-update", "octavia", "PUT", f"{LBAAS}/pools/{{pool}}", "pool",
              lambda ids: {"pool": _pool_fields()},
              {("pool",): fields(s.PoolUpdate),
               ("pool", "session_persistence"): fields(s.SessionPersistence)}, BY_DESIGN_501),
    FuzzRoute("member-create", "octavia", "POST", f"{LBAAS}/pools/{{spare_pool}}/members",
              "member", lambda ids: {"member": _member("10.0.5.20", ids)},
              {("member",): fields(s.MemberCreate)}, BY_DESIGN_501, "delete"),
    FuzzRoute("member-update", "octavia", "PUT",
              f"{LBAAS}/pools/{{pool}}/members/{{member}}", "member",
              lambda ids: {"member": {k: v for k, v in _member("", ids).items()
                                      if k not in ("address", "protocol_port", "subnet_id")}},
              _update(s.MemberUpdate, "member")),
    FuzzRoute("member-batch", "octavia", "PUT", f"{LBAAS}/pools/{{batch_pool}}/members",
              "members", lambda ids: {"members": [_member("10.0.5.30", ids),
                                                  {"address": "10.0.5.31",
                                                   "protocol_port": 80}]},
              {("members", 0): fields(s.MemberCreate)}, BY_DESIGN_501),
    FuzzRoute("hm-create", "octavia", "POST", f"{LBAAS}/healthmonitors", "healthmonitor",
              lambda ids: {"healthmonitor": {**_hm(), "pool_id": ids["spare_pool"]}},
              {("healthmonitor",): fields(s.HealthMonitorCreate)}, BY_DESIGN_501, "delete"),
    FuzzRoute("hm-update", "octavia", "PUT", f"{LBAAS}/healthmonitors/{{hm}}",
              "healthmonitor",
              lambda ids: {"healthmonitor": {k: v for k, v in _hm().items()
                                             if k != "type"}},
              _update(s.HealthMonitorUpdate, "healthmonitor")),
    FuzzRoute("quota-update", "octavia", "PUT", f"{LBAAS}/quotas/fuzz-quota-project",
              "quota", lambda ids: {"quota": {name: 100 for name in fields(s.QuotaUpdate)}},
              _update(s.QuotaUpdate, "quota")),
    FuzzRoute("l7policy-create", "octavia", "POST", f"{LBAAS}/l7policies", "l7policy",
              lambda ids: {"l7policy": {**_l7policy(), "listener_id": ids["listener"],
                                        "rules": [_l7rule()]}},
              {("l7policy",): fields(s.L7PolicyCreate),
               ("l7policy", "rules", 0): fields(s.L7RuleCreate)}, BY_DESIGN_501, "delete"),
    FuzzRoute("l7policy-update", "octavia", "PUT", f"{LBAAS}/l7policies/{{l7policy}}",
              "l7policy", lambda ids: {"l7policy": _l7policy()},
              _update(s.L7PolicyUpdate, "l7policy"), BY_DESIGN_501),
    FuzzRoute("l7rule-create", "octavia", "POST", f"{LBAAS}/l7policies/{{l7policy}}/rules",
              "rule", lambda ids: {"rule": _l7rule()}, _update(s.L7RuleCreate, "rule"),
              BY_DESIGN_501, "delete"),
    FuzzRoute("l7rule-update", "octavia", "PUT",
              f"{LBAAS}/l7policies/{{l7policy}}/rules/{{l7rule}}", "rule",
              lambda ids: {"rule": _l7rule()}, _update(s.L7RuleUpdate, "rule"), BY_DESIGN_501),
    FuzzRoute("lb-failover", "octavia", "PUT", f"{LBAAS}/loadbalancers/{{lb}}/failover", None,
              lambda ids: {}, examples=5, sweep=False),
]

# --- Neutron -----------------------------------------------------------------------

NEUTRON = [
    FuzzRoute("network-create", "neutron", "POST", f"{NET}/networks", "network",
              lambda ids: {"network": {"name": "n", "description": "d", "admin_state_up": True,
                                       "mtu": 1500, "shared": False, "tags": ["t"]}},
              {("network",): sorted(networks.CREATABLE)}, undo="delete"),
    FuzzRoute("network-update", "neutron", "PUT", f"{NET}/networks/{{network}}", "network",
              lambda ids: {"network": {"name": "n", "description": "d", "admin_state_up": True,
                                       "mtu": 1450, "tags": ["t"]}},
              {("network",): sorted(networks.UPDATABLE)}),
    FuzzRoute("subnet-create", "neutron", "POST", f"{NET}/subnets", "subnet",
              lambda ids: {"subnet": {
                  "network_id": ids["network"], "ip_version": 4, "cidr": "10.1.8.0/24",
                  "name": "s", "description": "d", "gateway_ip": "10.1.8.1",
                  "allocation_pools": [{"start": "10.1.8.10", "end": "10.1.8.20"}],
                  "host_routes": [{"destination": "192.168.0.0/24", "nexthop": "10.1.8.254"}],
                  "dns_nameservers": ["192.0.2.53"], "enable_dhcp": True, "tags": ["t"]}},
              {("subnet",): sorted(subnets.CREATABLE),
               ("subnet", "allocation_pools", 0): ("start", "end"),
               ("subnet", "host_routes", 0): ("destination", "nexthop")}, undo="delete"),
    FuzzRoute("subnet-update", "neutron", "PUT", f"{NET}/subnets/{{subnet}}", "subnet",
              lambda ids: {"subnet": {
                  "name": "s", "description": "d", "gateway_ip": "10.1.0.1",
                  "allocation_pools": [{"start": "10.1.0.10", "end": "10.1.0.200"}],
                  "host_routes": [], "dns_nameservers": ["192.0.2.53"], "enable_dhcp": True,
                  "tags": ["t"]}},
              {("subnet",): sorted(subnets.UPDATABLE),
               ("subnet", "allocation_pools", 0): ("start", "end")}),
    FuzzRoute("port-create", "neutron", "POST", f"{NET}/ports", "port",
              lambda ids: {"port": {
                  "network_id": ids["port_network"], "name": "p", "description": "d",
                  "admin_state_up": True, "device_owner": "compute:nova", "device_id": "vm-1",
                  "fixed_ips": [{"subnet_id": ids["port_subnet"], "ip_address": "10.2.0.10"}],
                  "tags": ["t"]}},
              {("port",): sorted(ports.CREATABLE),
               ("port", "fixed_ips", 0): ("subnet_id", "ip_address")}, undo="delete"),
    # Ports are read-only after creation in nslb: PUT is a 405 in Neutron's shape.
    FuzzRoute("port-update", "neutron", "PUT", f"{NET}/ports/{{port}}", "port",
              lambda ids: {"port": {"name": "p2"}}, examples=5, sweep=False),
]

# --- Keystone ----------------------------------------------------------------------

AUTH = ("auth",)
IDENT = (*AUTH, "identity")
USER = (*IDENT, "password", "user")
SCOPE = (*AUTH, "scope")
AUTH_KNOWN: dict[Path, Sequence[str]] = {
    AUTH: fields(ks.Auth), IDENT: fields(ks.AuthIdentity), (*IDENT, "password"): ("user",),
    USER: fields(ks.AuthUser), (*USER, "domain"): fields(ks.Domain),
    (*IDENT, "token"): fields(ks.TokenMethod), SCOPE: fields(ks.ScopeBody),
    (*SCOPE, "project"): fields(ks.ScopeProject),
    (*SCOPE, "project", "domain"): fields(ks.Domain),
}


def _login(ids: Ids) -> Any:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "fuzz-login", "domain": {"name": "Default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "fuzz-login-p", "domain": {"id": "default"}}}}}


def _trade(ids: Ids) -> Any:
    return {"auth": {"identity": {"methods": ["token"], "token": {"id": ids["token"]}},
                     "scope": {"project": {"id": ids["admin_project"]}}}}


KEYSTONE = [
    FuzzRoute("token-password", "keystone", "POST", f"{V3}/auth/tokens", "auth", _login,
              AUTH_KNOWN, token=False),
    FuzzRoute("token-token", "keystone", "POST", f"{V3}/auth/tokens", "auth", _trade,
              AUTH_KNOWN, token=False),
    FuzzRoute("project-create", "keystone", "POST", f"{V3}/projects", "project",
              lambda ids: {"project": {"name": "fz-p", "description": "d", "enabled": True,
                                       "domain_id": "default"}},
              {("project",): fields(ks.ProjectCreate)}, undo="delete"),
    FuzzRoute("project-update", "keystone", "PATCH", f"{V3}/projects/{{target_project}}",
              "project", lambda ids: {"project": {"name": "fuzz-target-p",
                                                  "description": "d", "enabled": True}},
              {("project",): fields(ks.ProjectUpdate)}),
    FuzzRoute("user-create", "keystone", "POST", f"{V3}/users", "user",
              lambda ids: {"user": {"name": "fz-u", "description": "d",
                                    "enabled": True, "domain_id": "default",
                                    "default_project_id": ids["target_project"]}},
              {("user",): fields(ks.UserCreate)}, undo="delete"),
    FuzzRoute("user-update", "keystone", "PATCH", f"{V3}/users/{{target_user}}", "user",
              lambda ids: {"user": {"name": "fuzz-target-u", "description": "d",
                                    "enabled": True,
                                    "default_project_id": ids["target_project"]}},
              {("user",): fields(ks.UserUpdate)}),
    FuzzRoute("password-change", "keystone", "POST", f"{V3}/users/{{pw_user}}/password",
              "user", lambda ids: {"user": {"original_password": PASSWORD,
                                            "password": PASSWORD}},
              {("user",): fields(ks.PasswordChange)}, undo="password"),
    FuzzRoute("role-create", "keystone", "POST", f"{V3}/roles", "role",
              lambda ids: {"role": {"name": "fz-r", "description": "d"}},
              {("role",): fields(ks.RoleCreate)}, undo="delete"),
    # nslb has no role update (Keystone's PATCH /roles/{id}): a 405 in Keystone's shape.
    FuzzRoute("role-update", "keystone", "PATCH", f"{V3}/roles/{{role}}", "role",
              lambda ids: {"role": {"name": "fz-r2"}}, examples=5, sweep=False),
]

ROUTES = [*OCTAVIA, *NEUTRON, *KEYSTONE]


# --- the world ----------------------------------------------------------------------


def _ok(resp: Any, status: int = 201) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def build_world(cloud: Cloud) -> Ids:
    """The objects the routes' bodies name, ACTIVE where Octavia needs it."""
    c, h = cloud.client, cloud.admin()

    def post(url: str, body: Any) -> Any:
        root = next(iter(body))
        return _ok(c.post(url, json=body, headers=h))[root]

    def network(name: str, cidr: str) -> tuple[str, str]:
        net = post(f"{NET}/networks", {"network": {"name": name}})
        sub = post(f"{NET}/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr,
                                                  "ip_version": 4}})
        return net["id"], sub["id"]

    ids: Ids = {}
    _, ids["vip_subnet"] = network("fuzz-vip", "10.0.0.0/16")
    ids["network"], ids["subnet"] = network("fuzz-update", "10.1.0.0/24")
    ids["port_network"], ids["port_subnet"] = network("fuzz-ports", "10.2.0.0/24")
    ids["port"] = post(f"{NET}/ports", {"port": {"network_id": ids["port_network"]}})["id"]
    lb = post(f"{LBAAS}/loadbalancers", {"loadbalancer": {
        "name": "fuzz", "vip_subnet_id": ids["vip_subnet"],
        "listeners": [{"name": "l", "protocol": "HTTP", "protocol_port": 80,
                       "l7policies": [{"action": "REJECT", "rules": [
                           {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}]}],
                       "default_pool": {
            "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 3},
            "members": [{"address": "10.0.9.1", "protocol_port": 80}]}}],
        "pools": [{"name": name, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
                  for name in ("spare", "batch")]}})
    ids["lb"], ids["listener"] = lb["id"], lb["listeners"][0]["id"]
    pools = {p["name"]: p for p in lb["pools"]}
    ids["pool"], ids["spare_pool"], ids["batch_pool"] = (pools[n]["id"] for n in
                                                         ("p", "spare", "batch"))
    ids["member"] = pools["p"]["members"][0]["id"]
    ids["hm"] = pools["p"]["healthmonitor"]["id"]
    policy = lb["listeners"][0]["l7policies"][0]
    ids["l7policy"], ids["l7rule"] = policy["id"], policy["rules"][0]["id"]
    cloud.worker.drain()
    ids["token"] = cloud.admin_token
    ids["admin_project"] = cloud.projects["admin"]
    cloud.project("fuzz-login-p")
    ids["target_project"] = cloud.project("fuzz-target-p")
    cloud.user("fuzz-login", PASSWORD, "fuzz-login-p", "member")
    ids["target_user"] = cloud.user("fuzz-target-u", PASSWORD, "fuzz-target-p")
    ids["pw_user"] = cloud.user("fuzz-pw", PASSWORD, "fuzz-target-p")
    ids["role"] = post(f"{V3}/roles", {"role": {"name": "fuzz-role"}})["id"]
    return ids
