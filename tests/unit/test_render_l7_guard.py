"""L7 values are free text that reaches HAProxy's frontend (probe 2026-12-03, F2's class):
a property test draws L7 policies and rules the API accepts, with hostile characters spliced
into every value, renders them, splits each frontend line the way HAProxy's tokenizer does
(backslash escapes, `#` comments, quotes) and checks that every rule is one `acl` line whose
last word is exactly the rule's value, that every action line names only its own rules, that
nothing else appeared, and that haproxy -c accepts the file."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nslb.api.faults import BadRequest
from nslb.api.octavia import schemas
from nslb.api.octavia.l7rules_check import check_rule, sanitize_policy
from nslb.model.addresses import network_list
from nslb.model.enums import (
    FIXED_RESPONSE_CONTENT_TYPES,
    L7PolicyAction,
    L7RuleCompareType,
    L7RuleType,
)
from nslb.model.resources import L7Policy, L7Rule, Pool
from nslb.model.snapshot import LoadBalancerSnapshot
from nslb.render import render_haproxy
from nslb.render.l7 import CLASS
from tests.unit import render_cases as rc

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists(
    "/usr/sbin/haproxy") else None)
SECOND_POOL = "33333334-3333-4333-8333-333333333334"
HOSTILE = st.sampled_from(['"', "'", "\\", "#", "$", "${HOME}", " ", "\t", "%", "\\x41",
                           "\\n", "}", "{", ";", "\u0662", "é", "\n", "\x00", " if TRUE"])
ESCAPED = {" ", "#", "\\", "'", '"'}


def _sometimes_hostile(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    spliced = st.tuples(valid, HOSTILE, st.integers(0, 40)).map(
        lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:])
    return st.one_of(valid, spliced)


TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
               max_size=20)
QUOTED = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(
    lambda t: f'"{t}"')
REGEX = st.from_regex(r"\^?[a-z/.]{1,8}(\(\.\*\)|\[a-z\]\+|\\d\{1,3\})?\$?", fullmatch=True)
URL = st.from_regex(r"https?://[a-z]{1,10}\.example(/[!-~]{0,20})?", fullmatch=True)


@st.composite
def rule_bodies(draw: st.DrawFn) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(sorted(L7RuleType)))
    compare = draw(st.sampled_from(sorted(L7RuleCompareType)))
    plain = REGEX if compare == "REGEX" else st.one_of(TEXT, QUOTED)
    value = draw(_sometimes_hostile(plain))
    if kind == "SSL_CONN_HAS_CERT":
        value = draw(st.sampled_from(["True", "true", "yes"]))
    elif kind == "SSL_VERIFY_RESULT":
        value = draw(st.sampled_from(["0", "10", "x"]))
    elif kind == "SOURCE_IP":
        value = draw(_sometimes_hostile(st.lists(
            st.one_of(st.ip_addresses().map(str),
                      st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(
                          lambda t: f"{t[0]}/{t[1]}"),
                      st.tuples(st.ip_addresses(v=6), st.integers(0, 128)).map(
                          lambda t: f"{t[0]}/{t[1]}")),
            min_size=1, max_size=4).map(", ".join)))
    body = {"type": kind, "compare_type": compare, "value": value,
            "invert": draw(st.booleans()),
            "admin_state_up": draw(st.sampled_from([True, True, True, False]))}
    if kind in ("HEADER", "COOKIE", "SSL_DN_FIELD"):
        body["key"] = draw(_sometimes_hostile(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}",
                                                            fullmatch=True)))
    try:
        fields = schemas.L7RuleCreate.model_validate(body).model_dump(exclude_none=True)
        check_rule(fields)
    except (ValidationError, BadRequest):
        return None
    return fields


@st.composite
def policy_bodies(draw: st.DrawFn) -> dict[str, Any] | None:
    action = draw(st.sampled_from(sorted(L7PolicyAction)))
    body: dict[str, Any] = {"action": action,
                            "admin_state_up": draw(st.sampled_from([True, True, False])),
                            "redirect_http_code": draw(st.sampled_from([301, 302, 303, 307,
                                                                        308]))}
    if action == "REDIRECT_TO_URL":
        body["redirect_url"] = draw(_sometimes_hostile(URL))
    elif action == "REDIRECT_PREFIX":
        body["redirect_prefix"] = draw(_sometimes_hostile(URL))
    elif action == "REDIRECT_TO_POOL":
        body["redirect_pool_id"] = SECOND_POOL
    elif action == "FIXED_RESPONSE":
        body["fixed_response_status_code"] = draw(st.integers(200, 599))
        body["fixed_response_content_type"] = draw(st.sampled_from(
            [*FIXED_RESPONSE_CONTENT_TYPES, "text/x-sh"]))
        if draw(st.booleans()):
            body["fixed_response_body"] = draw(_sometimes_hostile(st.one_of(TEXT, QUOTED)))
    try:
        fields = schemas.L7PolicyUpdate.model_validate(body).model_dump(exclude_none=True)
        return sanitize_policy(fields)
    except (ValidationError, BadRequest):
        return None


@st.composite
def load_balancers(draw: st.DrawFn) -> LoadBalancerSnapshot:
    policies: list[L7Policy] = []
    rules: list[L7Rule] = []
    for n in range(draw(st.integers(1, 4))):
        fields = draw(policy_bodies())
        if fields is None:
            continue
        policy = L7Policy(id=f"bbbbbbb{n}-bbbb-4bbb-8bbb-bbbbbbbbbbbb", listener_id=rc.LISTENER_ID,
                          loadbalancer_id=rc.LB_ID, position=n + 1, **fields)
        policies.append(policy)
        for m in range(draw(st.integers(0, 3))):
            # a few tries: most random bodies are ones the API refuses
            rule = next((r for r in (draw(rule_bodies()) for _ in range(5)) if r), None)
            if rule is not None:
                rules.append(L7Rule(id=f"aaaaaaa{n}-aaaa-4aaa-8aaa-aaaaaaaaaaa{m}",
                                    l7policy_id=policy.id, loadbalancer_id=rc.LB_ID, **rule))
    second = Pool(id=SECOND_POOL, loadbalancer_id=rc.LB_ID, protocol="HTTP")
    snap = rc.snapshot(listeners=(rc.listener(),), pools=(rc.pool(), second),
                       members=rc.members(1))
    return dataclasses.replace(snap, l7policies=tuple(policies), l7rules=tuple(rules))


def haproxy_words(line: str) -> list[str]:
    """A config line split as HAProxy 2.6 splits it, for what nslb writes: unquoted words,
    a backslash escaping the next character. An unescaped quote or `#` (a quoted string or
    a comment) never appears: the renderer escapes them."""
    words: list[str] = []
    current: list[str] | None = None
    chars = iter(line.lstrip())
    for char in chars:
        if char == "\\":
            escaped = next(chars)
            assert escaped in ESCAPED, f"\\{escaped} would be a HAProxy escape in {line!r}"
            current = (current or []) + [escaped]
        elif char in " \t":
            if current is not None:
                words.append("".join(current))
            current = None
        else:
            assert char not in "#'\"", f"unescaped {char!r} in {line!r}"
            current = (current or []) + [char]
    if current is not None:
        words.append("".join(current))
    return words


def _expected(snap: LoadBalancerSnapshot) -> list[tuple[L7Policy, list[L7Rule]]]:
    out = []
    for policy in snap.l7policies:
        live = [r for r in snap.rules_of(policy.id) if r.admin_state_up]
        if policy.admin_state_up and live:
            out.append((policy, live))
    return sorted(out, key=lambda item: (CLASS[L7PolicyAction(item[0].action)],
                                         item[0].position))


def _check(snap: LoadBalancerSnapshot, text: str) -> None:
    frontend = text.split(f"frontend {rc.LISTENER_ID}\n", 1)[1].split("\n\n", 1)[0]
    # the access log format (strongly quoted) is test_render_guard's to check
    lines = [haproxy_words(line) for line in frontend.splitlines()
             if not line.startswith("    log-format '")]
    l7 = [words for words in lines if words[0] in ("acl", "use_backend", "redirect")
          or words[:2] in (["http-request", "deny"], ["http-request", "return"])]
    expected: list[list[str]] = []
    for policy, rules in _expected(snap):
        for rule in rules:
            acl = next(words for words in l7 if words[:2] == ["acl", rule.id])
            if rule.type == "SOURCE_IP":
                assert acl[2:] == ["src", "--", *network_list(rule.value)], acl
            elif rule.type not in ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT"):
                assert acl[-2:] == ["--", rule.value], (acl, rule.value)
                assert len(acl) in (5, 7, 8), acl  # acl id fetch [-i] [-m kind] -- value
            if rule.key is not None:
                assert acl[2].endswith(f"({rule.key})"), acl
            expected.append(acl)
        condition = ["if", *[("!" if r.invert else "") + r.id for r in rules]]
        action = next(words for words in l7 if words[-len(condition):] == condition
                      and words[0] != "acl")
        if policy.action == "REDIRECT_TO_URL":
            assert action[:5] == ["redirect", "code", str(policy.redirect_http_code),
                                  "location", policy.redirect_url]
        elif policy.action == "REDIRECT_PREFIX":
            assert action[:5] == ["redirect", "code", str(policy.redirect_http_code),
                                  "prefix", policy.redirect_prefix]
        elif policy.action == "REDIRECT_TO_POOL":
            assert action[:2] == ["use_backend", SECOND_POOL]
        elif policy.action == "FIXED_RESPONSE":
            returned = ["http-request", "return", "status",
                        str(policy.fixed_response_status_code)]
            if policy.fixed_response_body:
                returned += ["content-type", str(policy.fixed_response_content_type),
                             "string", policy.fixed_response_body]
            assert action[:-len(condition)] == returned, action
        else:
            assert action[:2] == ["http-request", "deny"]
        expected.append(action)
    assert l7 == expected


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(load_balancers())
def test_api_valid_l7_policies_render_exactly_their_values(snap: LoadBalancerSnapshot) -> None:
    text = render_haproxy(snap, state_dir="/var/lib/nslb", fd_limit=20000)
    _check(snap, text)
    if HAPROXY is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".cfg") as cfg:
            cfg.write(text)
            cfg.flush()
            result = subprocess.run([HAPROXY, "-c", "-f", cfg.name], capture_output=True,
                                    text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stdout + result.stderr + text


def test_the_tokenizer_follows_haproxy() -> None:
    assert haproxy_words(r"    acl x req.hdr(a) -m str a\ b\#c\\d\'\"") == \
        ["acl", "x", "req.hdr(a)", "-m", "str", "a b#c\\d'\""]
    assert re.fullmatch(r"[a-f0-9-]+", SECOND_POOL)
