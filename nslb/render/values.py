"""The render-time guard: every value that reaches a config line passes one of these.

HAProxy parses its configuration as a sequence of whitespace-separated words in which
quotes, backslashes, `#` and `"${VAR}"` have meanings, and it reads files named by some
directives. A value that carries any of that changes the config beyond itself (probe
2026-12-03, F1/F2). The API validates tenant input to strict grammars; this module checks
every value *again* at render time, against the same grammars (nslb.model.grammar), and
quotes where the grammar leaves characters HAProxy could read. A value outside its grammar
raises `UnsafeValue`: nothing is rendered, the apply fails, the last good config keeps
serving. Safe by construction, not by trusting the database.
"""

from __future__ import annotations

from collections.abc import Collection

from nslb.model import addresses, grammar

MAX_INT = 2**31 - 1


class UnsafeValue(ValueError):
    """A value outside its grammar reached the renderer. The message names the field, never
    the value (it may be hostile and it ends up in logs and API fault strings)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"refusing to render {what}: value outside its grammar")


def uuid(value: object, what: str = "id") -> str:
    """An object id as nslb makes them (lowercase, hyphenated)."""
    if not isinstance(value, str) or not grammar.UUID.fullmatch(value):
        raise UnsafeValue(what)
    return value


def address(value: object, what: str = "address") -> str:
    """A plain IP address, already in canonical form (scope ids never pass)."""
    try:
        canonical = addresses.canonical_ip(value)
    except addresses.AddressError:
        raise UnsafeValue(what) from None
    if canonical != value:
        raise UnsafeValue(what)
    return canonical


def network(value: object, what: str = "network") -> str:
    try:
        return addresses.canonical_network(value)
    except addresses.AddressError:
        raise UnsafeValue(what) from None


def integer(value: object, low: int, high: int = MAX_INT, what: str = "number") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UnsafeValue(what)
    return value


def port(value: object, what: str = "port") -> int:
    return integer(value, 1, 65535, what)


def endpoint(address_value: object, port_value: object, what: str = "endpoint") -> str:
    """`address:port`, IPv6 in brackets so the port is never ambiguous."""
    addr = address(address_value, what)
    number = port(port_value, what)
    if ":" in addr:
        return f"[{addr}]:{number}"
    return f"{addr}:{number}"


def word(value: object, allowed: Collection[str], what: str = "keyword") -> str:
    """One of a fixed set of words (methods, modes, algorithms)."""
    if not isinstance(value, str) or value not in allowed:
        raise UnsafeValue(what)
    return value


def matching(value: object, pattern_name: str, what: str) -> str:
    """A value that fullmatches one of the grammars in nslb.model.grammar."""
    pattern = getattr(grammar, pattern_name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeValue(what)
    return value


def haproxy_word(value: object, what: str) -> str:
    """A free-text value (an L7 rule's value, a redirect URL) as one HAProxy word: printable
    characters only, and the ones HAProxy's tokenizer gives a meaning to (backslash, space,
    `#`, both quotes) escaped with a backslash. `$` is literal outside double quotes."""
    if not isinstance(value, str) or not value or not value.isprintable():
        raise UnsafeValue(what)
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise UnsafeValue(what)
    return "".join("\\" + c if c in '\\ #\'"' else c for c in value)


def quoted_url_path(value: object) -> str:
    """An HTTP check path in HAProxy's strong (single) quotes: inside them HAProxy expands
    nothing and honours no escapes; the grammar already excludes the quote itself."""
    return f"'{matching(value, 'URL_PATH', 'url_path')}'"


def log_token_or_dash(value: object) -> str:
    """A literal word of an access log line (a project id), or `-` when the value has
    characters a log line or HAProxy's log-format would read (a noauth project id may be
    any short string): the line keeps its sixteen fields and the config its meaning."""
    if isinstance(value, str) and grammar.LOG_TOKEN.fullmatch(value):
        return value
    return "-"


def log_format(words: list[str], what: str = "log-format") -> str:
    """HAProxy's `log-format` argument from space-separated words, as one strongly quoted
    config word: inside single quotes HAProxy's tokenizer takes every character literally
    (no `$` expansion, no backslash escape), and the grammar admits no single quote."""
    text = " ".join(words)
    if not grammar.LOG_FORMAT.fullmatch(text):
        raise UnsafeValue(what)
    return f"'{text}'"


def file_path(value: object, what: str = "path") -> str:
    """A path nslb chose (sockets, helper scripts), still checked: it is rendered bare."""
    text = matching(value, "FILE_PATH", what)
    if "/../" in f"{text}/" or "/./" in f"{text}/":
        raise UnsafeValue(what)
    return text
