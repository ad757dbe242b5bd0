"""Request bodies of the Octavia resources, with Octavia's types, ranges and defaults.

A field left out of a PUT stays unchanged, so PUT schemas have no defaults: handlers use
`model_dump(exclude_unset=True)`. Options nslb does not serve yet are still *parsed* here
so that handlers can answer 501 naming them, instead of a confusing 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from nslb.model import addresses, enums, grammar

MAX_TIMEOUT = 24 * 24 * 60 * 60 * 1000  # Octavia: 24 days in milliseconds
MAX_INTEGER = 2147483647
# HAProxy's timers hold at most 2**31-1 ms; health monitor delays and timeouts are seconds.
MAX_HM_SECONDS = MAX_INTEGER // 1000
MAX_REF = 255  # key-manager refs (secret and container URLs), as Octavia's types

Name = Annotated[str, StringConstraints(max_length=255)]
Tag = Annotated[str, StringConstraints(max_length=255)]
ProjectId = Annotated[str, StringConstraints(max_length=36)]
Ref = Annotated[str, StringConstraints(max_length=MAX_REF)]
Port = Annotated[int, Field(ge=1, le=65535)]
Timeout = Annotated[int, Field(ge=0, le=MAX_TIMEOUT)]
Weight = Annotated[int, Field(ge=0, le=256)]
Retries = Annotated[int, Field(ge=1, le=10)]
HmDelay = Annotated[int, Field(ge=1, le=MAX_HM_SECONDS)]
HmTimeout = Annotated[int, Field(ge=0, le=MAX_HM_SECONDS)]


def _uuid(value: str) -> str:
    if not grammar.UUID_INPUT.fullmatch(value):
        raise ValueError("Invalid UUID")
    return value


def _ip(value: str) -> str:
    """A plain address in canonical form: IPv6 scope ids are refused (probe F1)."""
    try:
        return addresses.canonical_ip(value)
    except addresses.AddressError:
        raise ValueError("Invalid IP address") from None


def _cidr(value: str) -> str:
    try:
        return addresses.canonical_network(value)
    except addresses.AddressError:
        raise ValueError("Invalid CIDR") from None


def _one_of_int(*allowed: int) -> Any:
    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(f"Value should be one of: {', '.join(map(str, allowed))}")
        return value
    return AfterValidator(check)


def _one_of(*allowed: str) -> Any:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"Value should be one of: {', '.join(sorted(allowed))}")
        return value
    return AfterValidator(check)


Uuid = Annotated[str, AfterValidator(_uuid)]
IpAddress = Annotated[str, AfterValidator(_ip)]
Cidr = Annotated[str, AfterValidator(_cidr)]
ListenerProtocol = Annotated[str, _one_of(*enums.ListenerProtocol)]
PoolProtocol = Annotated[str, _one_of(*enums.PoolProtocol)]
Algorithm = Annotated[str, _one_of(*enums.LbAlgorithm)]
HmType = Annotated[str, _one_of(*enums.HealthMonitorType)]
HttpMethod = Annotated[str, _one_of(*enums.HttpMethod)]
ClientAuth = Annotated[str, _one_of("NONE", "OPTIONAL", "MANDATORY")]
# Cipher strings are checked by the TLS rules (Octavia's message); versions too (Octavia
# lists the invalid ones); ALPN ids at the type, as Octavia's AlpnProtocolType does.
Ciphers = Annotated[str, StringConstraints(max_length=2048)]
TlsVersion = Annotated[str, StringConstraints(max_length=32)]


def _alpn(value: str) -> str:
    if not grammar.ALPN_ID.fullmatch(value):
        raise ValueError("Value should be a valid ALPN protocol ID")
    return value


AlpnId = Annotated[str, AfterValidator(_alpn)]
PersistenceType = Annotated[str, _one_of(*enums.SessionPersistenceType)]


def _url_path(value: str) -> str:
    if not grammar.URL_PATH.fullmatch(value):
        raise ValueError("must be an absolute URL path like /healthz (RFC 3986 characters "
                         "only; no quotes, backslash, #, $, spaces or control characters)")
    return value


def _expected_codes(value: str) -> str:
    if not grammar.EXPECTED_CODES.fullmatch(value):
        raise ValueError("must be a code (200), a list (200,202) or a range (200-204) of "
                         "HTTP status codes")
    low, sep, high = value.partition("-")
    if sep and int(low) > int(high):
        raise ValueError("the range must go from the lower to the higher code")
    return value


def _cookie_name(value: str) -> str:
    if not grammar.COOKIE_NAME.fullmatch(value):
        raise ValueError("must be letters, digits, '_' and '-' (at most 255)")
    return value


def _domain(value: str) -> str:
    if not grammar.DOMAIN.fullmatch(value):
        raise ValueError("must be a valid domain name")
    return value


def _http_version(value: float) -> float:
    if value not in (1.0, 1.1):
        raise ValueError("Value should be one of: 1.0, 1.1")
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class SessionPersistence(Body):
    type: PersistenceType
    cookie_name: Annotated[str, AfterValidator(_cookie_name)] | None = None
    persistence_timeout: Annotated[int, Field(ge=0, le=MAX_INTEGER)] | None = None
    persistence_granularity: IpAddress | None = None


# --- health monitors -----------------------------------------------------------------


class _HmFields(Body):
    name: Name | None = None
    admin_state_up: bool | None = None
    delay: HmDelay | None = None
    timeout: HmTimeout | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HttpMethod | None = None
    url_path: Annotated[str, AfterValidator(_url_path)] | None = None
    expected_codes: Annotated[str, AfterValidator(_expected_codes)] | None = None
    http_version: Annotated[float, AfterValidator(_http_version)] | None = None
    domain_name: Annotated[str, AfterValidator(_domain)] | None = None
    tags: list[Tag] | None = None


class HealthMonitorSingleCreate(_HmFields):
    type: HmType
    delay: HmDelay
    timeout: HmTimeout
    max_retries: Retries
    project_id: ProjectId | None = None


class HealthMonitorCreate(HealthMonitorSingleCreate):
    pool_id: Uuid


class HealthMonitorUpdate(_HmFields):
    pass


# --- members -----------------------------------------------------------------------


class _MemberFields(Body):
    name: Name | None = None
    admin_state_up: bool | None = None
    weight: Weight | None = None
    backup: bool | None = None
    monitor_address: IpAddress | None = None
    monitor_port: Port | None = None
    tags: list[Tag] | None = None


class MemberCreate(_MemberFields):
    address: IpAddress
    protocol_port: Port
    subnet_id: Uuid | None = None
    project_id: ProjectId | None = None
    request_sriov: bool | None = None


class MemberUpdate(_MemberFields):
    pass


class MembersBatch(Body):
    members: list[MemberCreate]


# --- pools -------------------------------------------------------------------------


class _PoolFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistence | None = None
    tags: list[Tag] | None = None
    # Re-encryption to the members (nslb.api.tls has the rules).
    tls_enabled: bool | None = None
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[AlpnId] | None = None


class PoolSingleCreate(_PoolFields):
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    project_id: ProjectId | None = None
    healthmonitor: HealthMonitorSingleCreate | None = None
    members: list[MemberCreate] = []


class PoolCreate(PoolSingleCreate):
    listener_id: Uuid | None = None
    loadbalancer_id: Uuid | None = None


class PoolUpdate(_PoolFields):
    pass


# --- listeners ---------------------------------------------------------------------


class _ListenerFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    connection_limit: Annotated[int, Field(ge=-1, le=MAX_INTEGER)] | None = None
    default_pool_id: Uuid | None = None
    insert_headers: dict[Name, Name] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    allowed_cidrs: list[Cidr] | None = None
    connection_logging: bool | None = None
    tags: list[Tag] | None = None
    # TLS termination and client authentication (nslb.api.tls has the rules).
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = None
    client_authentication: ClientAuth | None = None
    client_ca_tls_container_ref: Ref | None = None
    client_crl_container_ref: Ref | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[AlpnId] | None = None
    hsts_max_age: Annotated[int, Field(ge=0, le=MAX_INTEGER)] | None = None
    hsts_include_subdomains: bool | None = None
    hsts_preload: bool | None = None


class ListenerSingleCreate(_ListenerFields):
    protocol: ListenerProtocol
    protocol_port: Port
    project_id: ProjectId | None = None
    # A full pool, or {"name": ...} naming one of the LB's `pools` in a tree create.
    default_pool: dict[str, Any] | None = None
    l7policies: list[dict[str, Any]] = []


class ListenerCreate(ListenerSingleCreate):
    loadbalancer_id: Uuid


class ListenerUpdate(_ListenerFields):
    pass


# --- load balancers ----------------------------------------------------------------


class _LoadBalancerFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    tags: list[Tag] | None = None


class LoadBalancerCreate(_LoadBalancerFields):
    vip_address: IpAddress | None = None
    vip_port_id: Uuid | None = None
    vip_subnet_id: Uuid | None = None
    vip_network_id: Uuid | None = None
    additional_vips: list[dict[str, Any]] | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    provider: Annotated[str, StringConstraints(max_length=64)] | None = None
    flavor_id: Uuid | None = None
    availability_zone: Name | None = None
    vip_vnic_type: Name | None = None
    listeners: list[ListenerSingleCreate] = []
    pools: list[PoolSingleCreate] = []


class LoadBalancerUpdate(_LoadBalancerFields):
    pass


# --- L7 policies and rules ----------------------------------------------------------

L7Action = Annotated[str, _one_of(*enums.L7PolicyAction)]
L7RuleTypeName = Annotated[str, _one_of(*enums.L7RuleType)]
L7CompareType = Annotated[str, _one_of(*enums.L7RuleCompareType)]
# Octavia: `^[^\r\n]*$` and at most 255; nslb refuses every control character (HAProxy reads
# a tab as a word break) and escapes the rest at render time.
L7Text = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$")]
RedirectCode = Annotated[int, _one_of_int(301, 302, 303, 307, 308)]


def _fixed_status(value: int) -> int:
    if value // 100 not in (2, 4, 5):
        raise ValueError("must be a 2xx, 4xx or 5xx HTTP status code")
    return value


# FIXED_RESPONSE (nslb extension): AWS ALB's status classes, content types and body limit;
# the body is one line of printable text (escaped for HAProxy at render time).
FixedStatus = Annotated[int, Field(ge=200, le=599), AfterValidator(_fixed_status)]
FixedContentType = Annotated[str, _one_of(*enums.FIXED_RESPONSE_CONTENT_TYPES)]
FixedBody = Annotated[str, StringConstraints(min_length=1, max_length=1024,
                                             pattern=r"^[^\x00-\x1f\x7f]*$")]
Position = Annotated[int, Field(ge=1, le=MAX_INTEGER)]


def _url(value: str) -> str:
    if not grammar.REDIRECT_URL.fullmatch(value):
        raise ValueError("Value must be a valid URL string")
    return value


Url = Annotated[str, AfterValidator(_url)]


class _L7RuleFields(Body):
    type: L7RuleTypeName | None = None
    compare_type: L7CompareType | None = None
    key: L7Text | None = None
    value: L7Text | None = None
    invert: bool | None = None
    admin_state_up: bool | None = None
    tags: list[Tag] | None = None


class L7RuleCreate(_L7RuleFields):
    type: L7RuleTypeName
    compare_type: L7CompareType
    value: L7Text
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class L7RuleUpdate(_L7RuleFields):
    pass


class _L7PolicyFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    action: L7Action | None = None
    redirect_pool_id: Uuid | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    tags: list[Tag] | None = None
    fixed_response_status_code: FixedStatus | None = None
    fixed_response_content_type: FixedContentType | None = None
    fixed_response_body: FixedBody | None = None


class L7PolicySingleCreate(_L7PolicyFields):
    action: L7Action
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    rules: list[L7RuleCreate] = []
    # a tree create names its pool: {"redirect_pool": {"name": ...}}
    redirect_pool: dict[str, Any] | None = None


class L7PolicyCreate(L7PolicySingleCreate):
    listener_id: Uuid


class L7PolicyUpdate(_L7PolicyFields):
    pass


# --- quotas ------------------------------------------------------------------------

QuotaValue = Annotated[int, Field(ge=-1, le=MAX_INTEGER)]


class QuotaUpdate(Body):
    loadbalancer: QuotaValue | None = None
    load_balancer: QuotaValue | None = None
    listener: QuotaValue | None = None
    member: QuotaValue | None = None
    pool: QuotaValue | None = None
    healthmonitor: QuotaValue | None = None
    health_monitor: QuotaValue | None = None
    l7policy: QuotaValue | None = None
    l7rule: QuotaValue | None = None
