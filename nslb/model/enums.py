"""Enumerations spelled exactly as Octavia and Neutron spell them on the wire."""

from enum import StrEnum


class ProvisioningStatus(StrEnum):
    ACTIVE = "ACTIVE"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"


class OperatingStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    DEGRADED = "DEGRADED"
    ERROR = "ERROR"
    DRAINING = "DRAINING"
    NO_MONITOR = "NO_MONITOR"


class L7PolicyAction(StrEnum):
    REJECT = "REJECT"
    REDIRECT_TO_URL = "REDIRECT_TO_URL"
    REDIRECT_TO_POOL = "REDIRECT_TO_POOL"
    REDIRECT_PREFIX = "REDIRECT_PREFIX"
    # nslb extension (not in Octavia): answer with a fixed status and body, as AWS ALB's
    # fixed-response action does
    FIXED_RESPONSE = "FIXED_RESPONSE"


class L7RuleType(StrEnum):
    HOST_NAME = "HOST_NAME"
    PATH = "PATH"
    FILE_TYPE = "FILE_TYPE"
    HEADER = "HEADER"
    COOKIE = "COOKIE"
    SSL_CONN_HAS_CERT = "SSL_CONN_HAS_CERT"
    SSL_VERIFY_RESULT = "SSL_VERIFY_RESULT"
    SSL_DN_FIELD = "SSL_DN_FIELD"
    # nslb extension (not in Octavia): the client's address is in one of the value's CIDRs
    SOURCE_IP = "SOURCE_IP"


class L7RuleCompareType(StrEnum):
    REGEX = "REGEX"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    CONTAINS = "CONTAINS"
    EQUAL_TO = "EQUAL_TO"


class AmphoraRole(StrEnum):
    STANDALONE = "STANDALONE"
    MASTER = "MASTER"
    BACKUP = "BACKUP"


class AmphoraStatus(StrEnum):
    """octavia-lib's amphora statuses (FAILOVER_STOPPED included, as the code has it)."""

    BOOTING = "BOOTING"
    ALLOCATED = "ALLOCATED"
    READY = "READY"
    PENDING_CREATE = "PENDING_CREATE"
    PENDING_DELETE = "PENDING_DELETE"
    DELETED = "DELETED"
    ERROR = "ERROR"
    FAILOVER_STOPPED = "FAILOVER_STOPPED"


class Topology(StrEnum):
    SINGLE = "SINGLE"
    ACTIVE_STANDBY = "ACTIVE_STANDBY"


class ListenerProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    TERMINATED_HTTPS = "TERMINATED_HTTPS"
    UDP = "UDP"
    SCTP = "SCTP"
    PROMETHEUS = "PROMETHEUS"


class PoolProtocol(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TCP = "TCP"
    PROXY = "PROXY"
    PROXYV2 = "PROXYV2"
    UDP = "UDP"
    SCTP = "SCTP"


class LbAlgorithm(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
    SOURCE_IP = "SOURCE_IP"
    SOURCE_IP_PORT = "SOURCE_IP_PORT"


class SessionPersistenceType(StrEnum):
    SOURCE_IP = "SOURCE_IP"
    HTTP_COOKIE = "HTTP_COOKIE"
    APP_COOKIE = "APP_COOKIE"


class HealthMonitorType(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PING = "PING"
    TCP = "TCP"
    TLS_HELLO = "TLS-HELLO"
    UDP_CONNECT = "UDP-CONNECT"
    SCTP = "SCTP"


class HttpMethod(StrEnum):
    CONNECT = "CONNECT"
    DELETE = "DELETE"
    GET = "GET"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"
    PATCH = "PATCH"
    POST = "POST"
    PUT = "PUT"
    TRACE = "TRACE"


class NetworkType(StrEnum):
    FLAT = "flat"
    VLAN = "vlan"


# What nslb serves today; everything else in the enums above answers 501. UDP is served by
# nftables in the amphora's namespace (render/udp.py), the rest by HAProxy.
SUPPORTED_LISTENER_PROTOCOLS = frozenset(
    {ListenerProtocol.HTTP, ListenerProtocol.HTTPS, ListenerProtocol.TCP, ListenerProtocol.UDP,
     ListenerProtocol.PROMETHEUS, ListenerProtocol.TERMINATED_HTTPS}
)
SUPPORTED_POOL_PROTOCOLS = frozenset(
    {PoolProtocol.HTTP, PoolProtocol.HTTPS, PoolProtocol.TCP, PoolProtocol.PROXY,
     PoolProtocol.PROXYV2, PoolProtocol.UDP}
)
SUPPORTED_ALGORITHMS = frozenset(
    {LbAlgorithm.ROUND_ROBIN, LbAlgorithm.LEAST_CONNECTIONS, LbAlgorithm.SOURCE_IP}
)
SUPPORTED_HM_TYPES = frozenset(
    {HealthMonitorType.HTTP, HealthMonitorType.HTTPS, HealthMonitorType.TCP,
     HealthMonitorType.TLS_HELLO, HealthMonitorType.PING, HealthMonitorType.UDP_CONNECT}
)
# The protocols whose traffic the kernel forwards (nftables) rather than HAProxy, as
# Octavia's LVS_PROTOCOLS; SCTP is refused (this kernel has no SCTP).
KERNEL_PROTOCOLS = frozenset({"UDP", "SCTP"})
# Octavia's L4_PROTOCOL_MAP: listeners on one LB may share a port number only across
# layer-4 protocols (TCP 53 and UDP 53).
L4_PROTOCOL: dict[str, str] = {
    "TCP": "TCP", "HTTP": "TCP", "HTTPS": "TCP", "TERMINATED_HTTPS": "TCP", "PROXY": "TCP",
    "PROXYV2": "TCP", "PROMETHEUS": "TCP", "UDP": "UDP", "SCTP": "SCTP",
}

# Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP.
LISTENER_POOL_PROTOCOLS: dict[str, frozenset[str]] = {
    "TCP": frozenset({"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "HTTP": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "HTTPS": frozenset({"HTTPS", "PROXY", "PROXYV2", "TCP"}),
    "TERMINATED_HTTPS": frozenset({"HTTP", "PROXY", "PROXYV2"}),
    "UDP": frozenset({"UDP"}),
    "SCTP": frozenset({"SCTP"}),
    "PROMETHEUS": frozenset(),  # it serves haproxy's metrics itself: no pools, no L7
}

# insert_headers keys accepted by Octavia's API; only the first three are rendered for HTTP.
INSERT_HEADERS_RENDERED = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")
INSERT_HEADERS_ACCEPTED = frozenset(
    {*INSERT_HEADERS_RENDERED, "X-Forwarded-IP", "X-Client-IP", "X-Real-IP"}
)
INSERT_HEADERS_TLS_ONLY = frozenset(
    {"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
     "X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After"}
)


# nslb extensions to Octavia's L7 API, named in the amphora provider's description.
L7_EXTENSION_ACTIONS = frozenset({L7PolicyAction.FIXED_RESPONSE})
L7_EXTENSION_RULE_TYPES = frozenset({L7RuleType.SOURCE_IP})
# FIXED_RESPONSE content types (AWS ALB's list)
FIXED_RESPONSE_CONTENT_TYPES = ("text/plain", "text/css", "text/html",
                                "application/javascript", "application/json")
