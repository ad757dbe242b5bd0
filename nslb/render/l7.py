"""L7 policies and rules as HAProxy frontend lines: one `acl` per rule, one action line per
policy (`... if rule1 !rule2`, the rules ANDed, `!` for an inverted rule).

HAProxy 2.6 evaluates `http-request` rules before `redirect` before `use_backend`, whatever
the order in the file; Octavia documents that (REJECT before REDIRECT_TO_URL/PREFIX before
REDIRECT_TO_POOL, each class in `position` order). nslb's FIXED_RESPONSE extension is an
`http-request return`, so it shares REJECT's class and their positions order them. The
lines are written in that order, so the file reads the way HAProxy acts and HAProxy prints
no warning about it. A policy with no
enabled rule, a disabled policy, and a redirect to a pool that is not served are left out,
as Octavia's templates do. Every value is checked and escaped (nslb.render.values).
"""

from __future__ import annotations

from nslb.model.addresses import AddressError, network_list
from nslb.model.enums import FIXED_RESPONSE_CONTENT_TYPES
from nslb.model.enums import L7PolicyAction as A
from nslb.model.enums import L7RuleCompareType as C
from nslb.model.enums import L7RuleType as T
from nslb.model.resources import L7Policy, L7Rule
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render import values as v

MATCH = {C.REGEX: "-m reg", C.STARTS_WITH: "-m beg", C.ENDS_WITH: "-m end",
         C.CONTAINS: "-m sub", C.EQUAL_TO: "-m str"}
# Evaluation classes of HAProxy, in its order.
CLASS = {A.REJECT: 0, A.FIXED_RESPONSE: 0, A.REDIRECT_TO_URL: 1, A.REDIRECT_PREFIX: 1,
         A.REDIRECT_TO_POOL: 2}
REDIRECT_CODES = (301, 302, 303, 307, 308)


def frontend_lines(snapshot: LoadBalancerSnapshot, listener_id: str,
                   served_pools: set[str]) -> list[str]:
    policies = [p for p in snapshot.policies_of(listener_id) if _rendered(snapshot, p,
                                                                          served_pools)]
    policies.sort(key=lambda p: (CLASS[A(p.action)], p.position))
    lines: list[str] = []
    for policy in policies:
        rules = [r for r in snapshot.rules_of(policy.id) if r.admin_state_up]
        lines += [acl(rule) for rule in rules]
        condition = " ".join(("!" if r.invert else "") + v.uuid(r.id, "l7rule id")
                             for r in rules)
        lines.append(f"{action(policy)} if {condition}")
    return lines


def _rendered(snapshot: LoadBalancerSnapshot, policy: L7Policy, served: set[str]) -> bool:
    if not policy.admin_state_up:
        return False
    if not any(r.admin_state_up for r in snapshot.rules_of(policy.id)):
        return False
    return policy.action != A.REDIRECT_TO_POOL or policy.redirect_pool_id in served


def acl(rule: L7Rule) -> str:
    name = v.uuid(rule.id, "l7rule id")
    kind = T(v.word(rule.type, set(T), "l7rule type"))
    compare = C(v.word(rule.compare_type, set(C), "l7rule compare_type"))
    if kind == T.SOURCE_IP:
        try:
            networks = " ".join(v.network(n, "l7rule value") for n in network_list(rule.value))
        except AddressError:
            raise v.UnsafeValue("l7rule value") from None
        return f"acl {name} src -- {networks}"
    if kind == T.SSL_CONN_HAS_CERT:
        return f"acl {name} ssl_c_used"
    if kind == T.SSL_VERIFY_RESULT:
        return f"acl {name} ssl_c_verify eq {v.integer(int(rule.value), 0, what='value')}"
    # `--` ends the ACL's options: a value may begin with `-` (found by
    # tests/unit/test_render_l7_guard.py; HAProxy would read `-x` as an option and refuse).
    value = "-- " + v.haproxy_word(rule.value, "l7rule value")
    if kind == T.HOST_NAME:
        return f"acl {name} req.hdr(host) -i {MATCH[compare]} {value}"
    if kind == T.PATH:
        return f"acl {name} path {MATCH[compare]} {value}"
    if kind == T.FILE_TYPE:
        # `path_end -m str` matches nothing in HAProxy (its issue #2567): EQUAL_TO is bare.
        flag = "" if compare == C.EQUAL_TO else f"{MATCH[compare]} "
        return f"acl {name} path_end {flag}{value}"
    key = v.haproxy_word(v.matching(rule.key, "L7_KEY", "l7rule key"), "l7rule key")
    fetch = {T.HEADER: "req.hdr", T.COOKIE: "req.cook", T.SSL_DN_FIELD: "ssl_c_s_dn"}[kind]
    return f"acl {name} {fetch}({key}) {MATCH[compare]} {value}"


def action(policy: L7Policy) -> str:
    kind = A(v.word(policy.action, set(A), "l7policy action"))
    if kind == A.REJECT:
        return "http-request deny"
    if kind == A.REDIRECT_TO_POOL:
        return f"use_backend {v.uuid(policy.redirect_pool_id, 'redirect_pool_id')}"
    if kind == A.FIXED_RESPONSE:
        return fixed_response(policy)
    code = v.integer(policy.redirect_http_code or 302, 301, 308, "redirect_http_code")
    if code not in REDIRECT_CODES:
        raise v.UnsafeValue("redirect_http_code")
    if kind == A.REDIRECT_TO_URL:
        url = v.matching(policy.redirect_url, "REDIRECT_URL", "redirect_url")
        return f"redirect code {code} location {v.haproxy_word(url, 'redirect_url')}"
    prefix = v.matching(policy.redirect_prefix, "REDIRECT_URL", "redirect_prefix")
    return f"redirect code {code} prefix {v.haproxy_word(prefix, 'redirect_prefix')}"


def fixed_response(policy: L7Policy) -> str:
    """`http-request return` with a literal body (`string`, not `lf-string`: nothing in it
    is expanded), the status and content type from their closed lists."""
    code = v.integer(policy.fixed_response_status_code, 200, 599, "fixed_response_status_code")
    if code // 100 not in (2, 4, 5):
        raise v.UnsafeValue("fixed_response_status_code")
    line = f"http-request return status {code}"
    if policy.fixed_response_body:
        if code == 204:  # HAProxy refuses a body here; the API refuses it first
            raise v.UnsafeValue("fixed_response_body")
        kind = v.word(policy.fixed_response_content_type or "text/plain",
                      set(FIXED_RESPONSE_CONTENT_TYPES), "fixed_response_content_type")
        body = v.haproxy_word(policy.fixed_response_body, "fixed_response_body")
        line += f" content-type {kind} string {body}"
    return line
