"""Nova's extra-spec requirement language, as its AggregateInstanceExtraSpecsFilter reads it.

A requirement is a plain value (equal to one of the aggregate's values), or an operator
then operands: `= 4` (at least, numerically), `== 4`, `!= 4`, `>= 4`, `<= 4` (numeric),
`s== a`, `s!= a`, `s< a`, `s<= a`, `s> a`, `s>= a` (strings), `<in> sub` (substring),
`<all-in> a b` (every word found in the value), `<or> a <or> b` (one of them).
An operand that is not a number where a number is needed does not match (Nova raises
there and the host fails; the result is the same).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

SCOPE = "aggregate_instance_extra_specs"


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(value: str, wanted: str) -> bool:
        try:
            return compare(float(value), float(wanted))
        except ValueError:
            return False
    return check


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "=": _numeric(operator.ge), "==": _numeric(operator.eq), "!=": _numeric(operator.ne),
    ">=": _numeric(operator.ge), "<=": _numeric(operator.le),
    "s==": operator.eq, "s!=": operator.ne, "s<": operator.lt, "s<=": operator.le,
    "s>": operator.gt, "s>=": operator.ge,
    "<in>": lambda value, wanted: wanted in value,
}


def matches(value: str, requirement: str) -> bool:
    """Whether one aggregate value satisfies one requirement."""
    words = requirement.split()
    op = words[0] if words else None
    if op == "<or>":
        return value in words[1::2]
    if op == "<all-in>":
        return len(words) > 1 and all(word in value for word in words[1:])
    check = OPERATORS.get(op) if op is not None else None
    if check is None:
        return value == requirement
    return len(words) > 1 and check(value, words[1])


def aggregate_key(spec_key: str) -> str | None:
    """The aggregate metadata key a flavor extra spec asks about: `scope:key` only in
    Nova's `aggregate_instance_extra_specs` scope, an unscoped key as is; None for other
    scopes (they are for other filters)."""
    scope, sep, key = spec_key.partition(":")
    if not sep:
        return spec_key
    return key if scope == SCOPE else None
