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
from nslb.model import grammar, pcre
from nslb.model.enums import L7PolicyAction as A
from nslb.model.enums import L7RuleCompareType as C
from nslb.model.enums import L7RuleType as T

MAX_RULES = 50  # Octavia's MAX_L7RULES_PER_L7POLICY
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


def sanitize_policy(fields: dict[str, Any]) -> dict[str, Any]:
    """The policy fields after Octavia's action/redirect coupling: what the action does not
    use is cleared (for an update, `fields` is the stored policy with the request's
    changes over it; check_exclusive has checked the request itself)."""
    out = dict(fields)
    action = out.get("action")
    if action == A.REJECT:
        out.update(redirect_url=None, redirect_pool_id=None, redirect_prefix=None,
                   redirect_http_code=None)
    elif action == A.REDIRECT_TO_POOL:
        if not out.get("redirect_pool_id"):
            raise _invalid("redirect_pool_id or redirect_pool must not be None")
        out.update(redirect_url=None, redirect_prefix=None, redirect_http_code=None)
    elif action == A.REDIRECT_TO_URL:
        if not out.get("redirect_url"):
            raise _invalid("redirect_url must not be None")
        out.update(redirect_pool_id=None, redirect_prefix=None)
        out["redirect_http_code"] = out.get("redirect_http_code") or 302
    elif action == A.REDIRECT_PREFIX:
        if not out.get("redirect_prefix"):
            raise _invalid("redirect_prefix must not be None")
        out.update(redirect_pool_id=None, redirect_url=None)
        out["redirect_http_code"] = out.get("redirect_http_code") or 302
    return out


def coupled_action(changes: dict[str, Any]) -> dict[str, Any]:
    """A PUT naming a redirect field switches the policy to that field's action."""
    out = dict(changes)
    if out.get("redirect_pool_id"):
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
