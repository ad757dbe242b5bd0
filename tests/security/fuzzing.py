"""The fuzzer's vocabulary: hostile values, body mutations, envelope attacks, and the
checks every answer must pass.

A request body starts as a valid one (its route's `base`) and is mutated: one field
replaced by a hostile value, a field left out, an unknown field added, several of these
at once, or the whole envelope replaced by something that is barely (or not) JSON. Values
JSON cannot spell with `json.dumps` (NaN, a 5,000-digit integer, 1,200 levels of nesting,
duplicate keys) are `Raw` text spliced into the serialised body.

Every answer must be: no 5xx (a 501 only where a route says nslb answers it by design),
an error body in the fault shape of the API that was called, and no error that repeats
more than ECHO_LIMIT characters of any submitted value.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

ECHO_LIMIT = 100  # an error may repeat at most this much of one submitted value
MAX_ERROR_BYTES = 16 * 1024  # a 2,048-character message in 4-byte UTF-8, and its shape
Path = tuple[str | int, ...]
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Raw:
    """JSON text inserted as is (what `json.dumps` refuses or would normalise)."""

    text: str


BIG = 2**63
UUID = "5f3c1e0a-9b7d-4c2e-8f1a-0123456789ab"
NIL_UUID = "00000000-0000-0000-0000-000000000000"
LONG = "x" * 100_000
EXTRA_LONG = "k" * 200  # a field name within the usual bound (255), too long to repeat
DEEP = Raw("[" * 1200 + "]" * 1200)


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


# The probe's value list (../shared/reference/probe-2026-12-03.md, "Bad input"): types,
# integer and float edges, empty and huge strings, unicode, NUL, lone surrogates,
# config-file metacharacters, UUIDs good and bad, addresses good and bad, nesting.
HOSTILE: list[Any] = [
    [], ["x"], [None], [LONG], list(range(1000)), [[[["deep"]]]],
    {}, {"": None}, {"x" * 1000: 1}, {"name": "x"}, _nested(20),
    None, True, False, 0, -1, 1.5, 5e-324, 1e308, -1e308,
    2**31 - 1, 2**31, -(2**31) - 1, BIG - 1, BIG, -BIG - 1, 10**30,
    Raw("NaN"), Raw("-Infinity"), Raw("1" * 5000), Raw("1e999"), DEEP,
    "", " ", LONG, "y" * 256, "z" * 65, "w" * 37, "é中文🙂", "\u202e\u200b\ufeff",
    "a\x00b", "\ud800", "a\udfffb", "a\nb", "\r\n", "x\rbind :22", "#", '"', "'", "\\",
    "%[src]", "${HOME}", '"${NSLB_DB}"', "%s%n%x", "../../etc/passwd", "not-a-uuid", UUID,
    UUID.upper(), UUID.replace("-", ""), NIL_UUID, "256.1.1.1", "10.0.0.1/33", "10.0.0.5/8",
    "::g", "::/0", "0.0.0.0", "fe80::1%eth0", "fe80::1%a\nb]#", "::ffff:10.0.0.1",
    "1", "-1", "0x10", "true", "null", "HTTP", "default",
]
# What every field meets in the systematic sweep. On SQLite: the wrong JSON types (a
# type confusion fails there as it would anywhere: SQLite refuses to bind a list too),
# null, an int4 overflow, empty strings, one within the usual bound of 255 but too long
# to repeat in a message, and a huge one. On PostgreSQL, which refuses what
# SQLite stores: null, the integer edges of int4 and int8 columns, and strings one past
# the sizes of the columns user text can reach (64, 255; 36-character id columns only
# take validated UUIDs, and "w" * 37 is among the HOSTILE values). NUL, lone surrogates, NaN
# and integers past 64 bits are refused for a whole body at once, so they need only
# appear somewhere: HOSTILE, the envelopes and hypothesis.
CORE: list[Any] = [["x"], {"a": 1}, None, True, 1.5, 2**31, "", "v" * 200, LONG]
DB_CORE: list[Any] = [None, 2**31, BIG - 1, "z" * 65, "y" * 256, LONG]


@dataclass(frozen=True)
class Case:
    """One request body and what the checks need to know about it."""

    label: str
    content: bytes
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    sent: tuple[str, ...] = ()  # submitted strings longer than ECHO_LIMIT

    def __repr__(self) -> str:  # hypothesis prints failing examples with this
        cut = "..." if len(self.content) > 300 else ""
        return f"Case({self.label!r}, {self.content[:300]!r}{cut})"


# --- serialising --------------------------------------------------------------------


def dumps(value: Any, ascii_only: bool = True) -> str:
    """JSON text of `value`, with Raw parts inserted verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=ascii_only)}: {dumps(v, ascii_only)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def encode(value: Any, ascii_only: bool = True) -> bytes:
    """UTF-8 bytes; with ascii_only=False a lone surrogate goes out as its raw 3 bytes
    (invalid UTF-8 that a lenient decoder would let through)."""
    return dumps(value, ascii_only).encode("utf-8", "surrogatepass")


def long_strings(value: Any) -> Iterator[str]:
    """Every string (keys included) longer than ECHO_LIMIT inside `value`."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Raw):
            item = item.text
        if isinstance(item, str):
            if len(item) > ECHO_LIMIT:
                yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def case(label: str, body: Any, ascii_only: bool = True) -> Case:
    return Case(label, encode(body, ascii_only), sent=tuple(set(long_strings(body))))


def raw_case(label: str, content: bytes, headers: dict[str, str] | None = None) -> Case:
    text = content.decode("utf-8", "replace")
    sent = (text,) if len(text) > ECHO_LIMIT else ()
    return Case(label, content, dict(JSON if headers is None else headers), sent)


def label_of(value: Any) -> str:
    text = value.text if isinstance(value, Raw) else repr(value)
    return text if len(text) <= 24 else f"{text[:20]}...({len(text)})"


# --- where a body can be changed ----------------------------------------------------


def containers(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every dict and list inside `value`, with its path."""
    stack: list[tuple[Path, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            yield where, item
            stack.extend(((*where, k), v) for k, v in item.items())
        elif isinstance(item, list):
            yield where, item
            stack.extend(((*where, i), v) for i, v in enumerate(item))


def slots(body: Any, known: dict[Path, Sequence[str]]) -> list[tuple[Path, str | int]]:
    """(container path, key) pairs a mutation may set: the keys present, the fields the
    API knows there (`known` is keyed by the paths of first list items), and the first
    item of each list."""
    out: list[tuple[Path, str | int]] = []
    for path, node in containers(body):
        if isinstance(node, dict):
            keys = list(node) + [k for k in known.get(path, ()) if k not in node]
            out += [(path, k) for k in keys]
        elif node:
            out.append((path, 0))
    return sorted(out, key=repr)


def present(body: Any) -> list[tuple[Path, str]]:
    """(container path, key) of every key present: what "field missing" can drop."""
    return sorted(((p, k) for p, node in containers(body) if isinstance(node, dict)
                   for k in node), key=repr)


def dict_paths(body: Any) -> list[Path]:
    return sorted((p for p, node in containers(body) if isinstance(node, dict)), key=repr)


def _at(body: Any, path: Path) -> Any:
    for part in path:
        body = body[part]
    return body


def with_value(body: Any, path: Path, key: str | int, value: Any) -> Any:
    out = copy.deepcopy(body)
    _at(out, path)[key] = value
    return out


def without(body: Any, path: Path, key: str) -> Any:
    out = copy.deepcopy(body)
    del _at(out, path)[key]
    return out


def where(path: Path, key: str | int) -> str:
    return ".".join(str(p) for p in (*path, key))


# --- the systematic part ------------------------------------------------------------


def sweep(base: Any, known: dict[Path, Sequence[str]], core: Sequence[Any]) -> list[Case]:
    """Every slot with every `core` value, every HOSTILE value somewhere (round robin over
    the slots), every present field missing, and an unknown field in every object."""
    spots = slots(base, known)
    out = [case(f"{where(p, k)}={label_of(v)}", with_value(base, p, k, v))
           for p, k in spots for v in core]
    out += [case(f"{where(*spots[i % len(spots)])}={label_of(v)}",
                 with_value(base, *spots[i % len(spots)], v))
            for i, v in enumerate(HOSTILE) if v not in core]
    out += [case(f"missing {where(p, k)}", without(base, p, k)) for p, k in present(base)]
    out += [case(f"extra field {label_of(name)} in {where(p, '')}", with_value(base, p, name, 1))
            for p in dict_paths(base) for name in ("x-extra", EXTRA_LONG)]
    return out


def envelopes(base: Any, root: str | None) -> list[Case]:
    """Attacks on the body as a whole (the probe's 26, and some relatives)."""
    text = encode(base)
    inner = base.get(root) if isinstance(base, dict) and root else base
    listed = isinstance(inner, list) and bool(inner) and isinstance(inner[0], dict)
    item = inner[0] if listed else inner
    first = next(iter(item), "name") if isinstance(item, dict) else "name"

    def rooted(value_text: str) -> bytes:
        return (f'{{"{root}": {value_text}}}' if root else value_text).encode()

    template = f'{{"{first}": @@}}'
    prefix, suffix = rooted(f"[{template}]" if listed else template).split(b"@@")

    def field_text(value: str | bytes) -> bytes:
        """The body with `value` (JSON text or raw bytes) as its first field."""
        return prefix + (value.encode() if isinstance(value, str) else value) + suffix

    inner_text = dumps(inner)
    cases = [
        raw_case("empty", b""), raw_case("whitespace", b"  \n "),
        raw_case("not JSON", b"loadbalancer=1&name=x"),
        raw_case("truncated", text[:len(text) // 2]),
        raw_case("trailing garbage", text + b"xyz"), raw_case("two documents", text + text),
        raw_case("comment", b"{/* c */}"), raw_case("single quotes", b"{'a': 1}"),
        raw_case("null root", b"null"), raw_case("list root", b"[" + text + b"]"),
        raw_case("string root", b'"' + (root or "x").encode() + b'"'),
        raw_case("number root", b"1"),
        raw_case("true root", b"true"), raw_case("empty object", b"{}"),
        raw_case("wrong root key", ('{"wrong": ' + inner_text + "}").encode()),
        raw_case("root key upper", rooted(inner_text).replace(
            f'"{root}"'.encode(), f'"{(root or "").upper()}"'.encode(), 1)),
        raw_case("root null", rooted("null")), raw_case("root list", rooted("[]")),
        raw_case("root string", rooted('"x"')), raw_case("root number", rooted("1")),
        raw_case("duplicate root", ("{" + f'"{root}": {inner_text}, "{root}": {inner_text}'
                                     + "}").encode() if root else text),
        raw_case("duplicate field", field_text('"a", "' + first + '": "b"')),
        raw_case("invalid UTF-8", field_text(b'"\xff\xfe"')),
        raw_case("raw surrogate bytes", field_text(b'"a\xed\xa0\x80"')),
        raw_case("overlong UTF-8 NUL", field_text(b'"a\xc0\x80"')),
        raw_case("BOM", b"\xef\xbb\xbf" + text),
        raw_case("UTF-16", text.decode().encode("utf-16")),
        raw_case("nesting 1,200", b"[" * 1200 + b"]" * 1200),
        raw_case("nesting 100,000", b"[" * 100_000 + b"]" * 100_000),
        raw_case("nesting 1,200 in a field", field_text("[" * 1200 + "]" * 1200)),
        raw_case("nesting 40 of objects", field_text('{"a": ' * 40 + "1" + "}" * 40)),
        raw_case("NaN", field_text("NaN")), raw_case("Infinity", field_text("Infinity")),
        raw_case("-Infinity", field_text("-Infinity")),
        raw_case("5,000-digit int", field_text("7" * 5000)),
        raw_case("huge exponent", field_text("1e99999")),
        raw_case("2 MB string", field_text('"' + "m" * 2_000_000 + '"')),
        raw_case("text/plain", text, {"content-type": "text/plain"}),
        raw_case("form", text, {"content-type": "application/x-www-form-urlencoded"}),
        raw_case("no content type", text, {}),
        raw_case("bogus gzip", text, {**JSON, "content-encoding": "gzip"}),
        raw_case("charset latin-1", text, {"content-type": "application/json; charset=latin-1"}),
    ]
    return cases


# --- the random part ----------------------------------------------------------------

TEXT = st.text(st.characters(categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cs", "Cf"]),
               max_size=120)
LEAF = st.one_of(st.sampled_from(HOSTILE), TEXT, st.integers(), st.floats(), st.booleans(),
                 st.none())
VALUE = st.recursive(LEAF, lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(TEXT, kids, max_size=3), max_leaves=8)
KEY = st.one_of(st.sampled_from(["x", "", "id", "ID", "Name", "__class__", EXTRA_LONG, LONG,
                                 "a\x00b", "\ud800", "name ", "provider:x"]), TEXT)


@st.composite
def fuzzed(draw: st.DrawFn, base: Any, known: dict[Path, Sequence[str]],
           attacks: Sequence[Case]) -> Case:
    """One mutated body: an envelope attack, or one to four field mutations."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(list(attacks)))
    body, steps = copy.deepcopy(base), []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3, 4]))):
        op = draw(st.sampled_from(["set", "set", "set", "drop", "extra"]))
        if op == "drop" and present(body):
            path, key = draw(st.sampled_from(present(body)))
            body, step = without(body, path, key), f"missing {where(path, key)}"
        elif op == "extra" and dict_paths(body):
            path, name, value = (draw(st.sampled_from(dict_paths(body))), draw(KEY),
                                 draw(VALUE))
            body = with_value(body, path, name, value)
            step = f"extra {where(path, label_of(name))}={label_of(value)}"
        elif slots(body, known):
            (path, slot), value = draw(st.sampled_from(slots(body, known))), draw(VALUE)
            body = with_value(body, path, slot, value)
            step = f"{where(path, slot)}={label_of(value)}"
        else:
            body, step = draw(VALUE), "body replaced"
        steps.append(step)
    return case("; ".join(steps), body, ascii_only=draw(st.booleans()))


# --- the checks ---------------------------------------------------------------------


def echoes(answer: str, sent: Sequence[str], limit: int = ECHO_LIMIT) -> str | None:
    """A run of more than `limit` characters of a submitted string inside `answer`, if
    any. Windows of limit/2+1 characters every limit/2 filter cheaply (a common run of
    limit+1 characters contains one of them); hits are then checked exactly."""
    step = limit // 2
    for value in sent:
        for start in range(0, len(answer) - step, step):
            if answer[start:start + step + 1] not in value:
                continue
            for j in range(max(0, start - step), min(start, len(answer) - limit - 1) + 1):
                if answer[j:j + limit + 1] in value:
                    return answer[j:j + limit + 1]
    return None


def strings_in(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def fault_shape(api: str, status: int, body: Any) -> str | None:
    """What is wrong with an error body for `api`, or None."""
    if api == "octavia":
        ok = (isinstance(body, dict) and set(body) == {"faultcode", "faultstring", "debuginfo"}
              and body["faultcode"] == ("Client" if status < 500 else "Server")
              and isinstance(body["faultstring"], str) and body["debuginfo"] is None)
    elif api == "neutron":
        inner = body.get("NeutronError") if isinstance(body, dict) else None
        ok = (set(body) == {"NeutronError"} and isinstance(inner, dict)
              and set(inner) == {"type", "message", "detail"}
              and isinstance(inner["message"], str))
    else:
        inner = body.get("error") if isinstance(body, dict) else None
        ok = (set(body) == {"error"} and isinstance(inner, dict)
              and set(inner) == {"code", "title", "message"} and inner["code"] == status
              and isinstance(inner["message"], str))
    return None if ok else f"not {api}'s fault shape"


def problems(api: str, status: int, content: bytes, sent: Sequence[str],
             by_design_501: str | None) -> list[str]:
    """Everything wrong with one answer (an empty list: fine)."""
    out: list[str] = []
    if status >= 500 and not (status == 501 and by_design_501 is not None):
        out.append(f"answered {status}")
    if status < 400:
        return out
    if len(content) > MAX_ERROR_BYTES:
        out.append(f"error body of {len(content)} bytes")
    try:
        body = json.loads(content)
    except ValueError:
        return [*out, "error body is not JSON"]
    shape = fault_shape(api, status, body)
    if shape:
        out.append(shape)
    elif status == 501 and by_design_501 is not None:
        message = json.dumps(body)
        if by_design_501 not in message:
            out.append(f"a 501 that is not the by-design '{by_design_501}'")
    echo = echoes("\n".join(strings_in(body)), sent)
    if echo is not None:
        out.append(f"echoes {len(echo)}+ characters of a submitted value: {echo[:40]!r}...")
    return out
