"""Octavia's rules for L7 policy and rule fields, with its messages.

`sanitize_policy` couples an L7 policy's action to its redirect fields the way Octavia's
`sanitize_l7policy_api_args` does (giving a redirect field switches the action);
`check_rule` is Octavia's `l7rule_data` validation. Both raise BadRequest in Octavia's words.
The grammars are nslb's own (stricter where HAProxy needs it): see nslb/model/grammar.py.
"""

from __future__ import annotations

import re
from typing import Any

from nslb.api.faults import BadRequest
from nslb.model import addresses, grammar, pcre
from nslb.model.enums import L7PolicyAction as A
from nslb.model.enums import L7RuleCompareType as C
from nslb.model.enums import L7RuleType as T

# Octavia's constants (HTTP_HEADER_VALUE_REGEX and friends).
HEADER_VALUE = re.compile(r"\A[a-zA-Z0-9!\"#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~\\]+\Z")
QUOTED_HEADER_VALUE = re.compile(
    r"\A\"[a-zA-Z0-9 \t!\"#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~\\]*\"\Z")
COOKIE_VALUE = re.compile(r"\A[a-zA-Z0-9!#$%&'()*+\-./:<=>?@\[\]^_`{|}~]+\Z")
EQUAL_ONLY = (T.FILE_TYPE, T.SSL_CONN_HAS_CERT, T.SSL_VERIFY_RESULT)


def _invalid(detail: str) -> BadRequest:
    return BadRequest(f"Invalid L7 Policy arguments: {detail}")


def refuse_nulls(changes: dict[str, Any], names: tuple[str, ...]) -> None:
    """An explicit null for a field the object cannot be without is a 400, in the words
    Octavia's other PUTs use (nslb.api.common.apply_changes)."""
    for name in names:
        if name in changes and changes[name] is None:
            raise BadRequest(f"Invalid input for field/attribute {name}. Value: 'None'. "
                             "Mandatory field missing.")


def check_exclusive(fields: dict[str, Any]) -> None:
    """A request names a pool or a URL/prefix to redirect to, not both."""
    if fields.get("redirect_pool_id") and (fields.get("redirect_url")
                                           or fields.get("redirect_prefix")):
        raise _invalid("Cannot specify redirect_pool_id and redirect_url or redirect_prefix "
                       "at the same time")


FIXED_FIELDS = ("fixed_response_status_code", "fixed_response_content_type",
                "fixed_response_body")
ACTION_FIELDS = ("redirect_pool_id", "redirect_url", "redirect_prefix", "redirect_http_code",
                 *FIXED_FIELDS)
# What each action uses; every other action field is cleared.
USES: dict[str, tuple[str, ...]] = {
    A.REJECT: (),
    A.REDIRECT_TO_POOL: ("redirect_pool_id",),
    A.REDIRECT_TO_URL: ("redirect_url", "redirect_http_code"),
    A.REDIRECT_PREFIX: ("redirect_prefix", "redirect_http_code"),
    A.FIXED_RESPONSE: FIXED_FIELDS,
}
# The field an action cannot be without, and Octavia's words when it is missing.
REQUIRED = {
    A.REDIRECT_TO_POOL: ("redirect_pool_id", "redirect_pool_id or redirect_pool"),
    A.REDIRECT_TO_URL: ("redirect_url", "redirect_url"),
    A.REDIRECT_PREFIX: ("redirect_prefix", "redirect_prefix"),
    A.FIXED_RESPONSE: ("fixed_response_status_code", "fixed_response_status_code"),
}
# Statuses whose response has no body by definition (RFC 9110): HAProxy refuses a
# `http-request return` with a body for them, so the API refuses the pair first.
BODILESS_STATUSES = frozenset({204})
DEFAULTS: dict[str, dict[str, object]] = {
    A.REDIRECT_TO_URL: {"redirect_http_code": 302},
    A.REDIRECT_PREFIX: {"redirect_http_code": 302},
    A.FIXED_RESPONSE: {"fixed_response_content_type": "text/plain"},
}


def sanitize_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """The policy fields after Octavia's action/redirect coupling: what the action does not
    use is cleared (for an update, `fields` is the stored policy with the request's
    changes over it; check_exclusive has checked the request itself)."""
    out = dict(fields)
    action = out.get("action")
    if action not in USES:
        return out
    required = REQUIRED.get(action)
    if required and not out.get(required[0]):
        raise _invalid(f"{required[1]} must not be None")
    for name in ACTION_FIELDS:
        if name not in USES[action]:
            out[name] = None
    for name, default in DEFAULTS.get(action, {}).items():
        out[name] = out.get(name) or default
    if action == A.FIXED_RESPONSE and out.get("fixed_response_body") \
            and out.get("fixed_response_status_code") in BODILESS_STATUSES:
        raise _invalid(f"fixed_response_body must be empty for a "
                       f"{out['fixed_response_status_code']} response")
    return out


def coupled_action(changes: dict[str, Any]) -> dict[str, Any]:
    """A PUT naming a redirect (or fixed-response) field switches the policy to that
    field's action."""
    out = dict(changes)
    if out.get("fixed_response_status_code"):
        out["action"] = A.FIXED_RESPONSE
    elif out.get("redirect_pool_id"):
        out["action"] = A.REDIRECT_TO_POOL
    elif out.get("redirect_url"):
        out["action"] = A.REDIRECT_TO_URL
    elif out.get("redirect_prefix"):
        out["action"] = A.REDIRECT_PREFIX
    return out


def _rule_error(detail: str) -> BadRequest:
    return BadRequest(f"Error parsing L7Rule: {detail}")


def check_rule(rule: dict[str, Any]) -> None:
    """Octavia's validation of a whole rule (type, compare type, key, value)."""
    kind, compare = T(rule["type"]), C(rule["compare_type"])
    key, value = rule.get("key"), rule.get("value")
    if value is None or value == "":
        raise _rule_error("Invalid L7 Rule: L7 rule type requires a value")
    if kind in EQUAL_ONLY and compare != C.EQUAL_TO and kind != T.FILE_TYPE:
        raise _rule_error(f"L7rule type {kind} only supports the EQUAL_TO compare type.")
    if kind == T.FILE_TYPE and compare not in (C.REGEX, C.EQUAL_TO):
        raise _rule_error("Invalid L7 Rule: invalid comparison type for rule type")
    if kind == T.SOURCE_IP:
        _check_source(compare, key, value)
        return
    if kind in (T.SSL_CONN_HAS_CERT, T.SSL_VERIFY_RESULT):
        if key:
            raise _rule_error(f'Invalid L7 Rule: L7rule type {kind} does not use the "key" '
                              "field.")
        if kind == T.SSL_CONN_HAS_CERT and value.lower() != "true":
            raise _rule_error(f"L7rule value {value} is not a boolean True string.")
        if kind == T.SSL_VERIFY_RESULT and not value.isdigit():
            raise _rule_error(f"L7rule type {kind} needs a int value, which is >= 0")
        return
    if kind in (T.HEADER, T.COOKIE, T.SSL_DN_FIELD):
        if not key:
            if kind == T.SSL_DN_FIELD:
                raise _rule_error("L7rule type SSL_DN_FIELD needs to specify a key and a "
                                  "value.")
            raise _rule_error("Invalid L7 Rule: L7 rule type requires a key")
        if kind == T.SSL_DN_FIELD and not grammar.DN_FIELD.fullmatch(key):
            raise _rule_error("Invalid L7rule distinguished name field.")
        if kind != T.SSL_DN_FIELD and not grammar.L7_KEY.fullmatch(key):
            raise _rule_error("Invalid characters in key")
    _check_value(kind, compare, value)


def _check_value(kind: T, compare: C, value: str) -> None:
    if compare == C.REGEX:
        # HAProxy's engine decides (nslb.model.pcre): Python's re accepts patterns it refuses
        refusal = pcre.problem(value)
        if refusal:
            raise _rule_error(f"Unable to parse regular expression: {refusal}")
        return
    if kind == T.SSL_DN_FIELD:
        return
    if kind == T.COOKIE:
        if not COOKIE_VALUE.match(value):
            raise _rule_error("Invalid characters in cookie value")
    elif not (HEADER_VALUE.match(value) or QUOTED_HEADER_VALUE.match(value)):
        raise _rule_error("Invalid characters in header value" if kind == T.HEADER
                          else "Invalid characters in comparison value")


def source_networks(value: str) -> list[str]:
    """A SOURCE_IP rule's networks (nslb.model.addresses.network_list), or Octavia's 400."""
    try:
        return addresses.network_list(value)
    except addresses.AddressError:
        raise _rule_error("L7rule type SOURCE_IP needs IP addresses or CIDRs separated by "
                          "spaces or commas") from None


def _check_source(compare: C, key: str | None, value: str) -> None:
    """SOURCE_IP (nslb extension): EQUAL_TO only, no key, at least one network."""
    if compare != C.EQUAL_TO:
        raise _rule_error("L7rule type SOURCE_IP only supports the EQUAL_TO compare type.")
    if key:
        raise _rule_error('Invalid L7 Rule: L7rule type SOURCE_IP does not use the "key" '
                          "field.")
    if not source_networks(value):
        raise _rule_error("Invalid L7 Rule: L7 rule type requires a value")
