"""Fernet tokens: small, signed and encrypted, validated without a token table.

A token carries only who (user), where (project or nothing), how (methods), a random
audit id, the audit ids of the tokens it was made from (its chain) and its lifetime. Roles
are looked up at validation time, so removing a role takes effect at once; revocation is
by audit id, and revoking a token revokes every token made from it (probe F12).

Only the exact bytes a token was issued as are accepted: base64 decoding stops at the
padding and ignores the spare bits of the last character, so `token + "AAAA"` or a
different last character would otherwise decrypt to the same token (probe F12).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import InvalidToken

from nslb.identity.keys import KeyRing

DEFAULT_TTL = timedelta(hours=1)
# A token with the longest chain is under 1 KB; anything much longer is not ours.
MAX_TOKEN_CHARS = 2048
# Tokens made from tokens made from tokens...: each link is one audit id in the token.
# Clients go one or two deep (unscoped -> scoped); a longer chain must log in again.
MAX_CHAIN = 16
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class TokenError(ValueError):
    """Not a valid token (bad signature, garbage, or expired). The message stays generic."""


@dataclass(frozen=True)
class TokenData:
    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    audit_id: str
    issued_at: datetime
    expires_at: datetime
    chain: tuple[str, ...] = ()  # audit ids of the tokens this one was made from, oldest first

    @property
    def audit_ids(self) -> list[str]:
        """As Keystone shows them: this token's, then its chain's (the first token's)."""
        return [self.audit_id, self.chain[0]] if self.chain else [self.audit_id]

    @property
    def lineage(self) -> tuple[str, ...]:
        """Every audit id whose revocation ends this token."""
        return (*self.chain, self.audit_id)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def issue(keys: KeyRing, user_id: str, project_id: str | None, methods: tuple[str, ...],
          ttl: timedelta = DEFAULT_TTL, expires_at: datetime | None = None,
          parent: TokenData | None = None) -> tuple[str, TokenData]:
    """A new token; `expires_at` caps it (a token made from a token never outlives it).
    A token made from `parent` carries the parent's lineage, so it dies with any of it."""
    issued = now()
    expiry = issued + ttl if expires_at is None else min(issued + ttl, expires_at)
    chain = parent.lineage if parent is not None else ()
    if len(chain) > MAX_CHAIN:
        raise TokenError("invalid token")
    data = TokenData(user_id, project_id, methods, new_audit_id(), issued, expiry, chain)
    payload = {"u": user_id, "p": project_id, "m": list(methods), "a": data.audit_id,
               "i": _to_ts(issued), "e": _to_ts(expiry)}
    if chain:
        payload["c"] = list(chain)
    token = keys.fernet().encrypt(json.dumps(payload, separators=(",", ":")).encode())
    return token.decode(), data


def canonical(token: str) -> bytes:
    """The token's bytes, only if `token` is exactly their base64 encoding (with padding,
    as Fernet writes it); TokenError for appended text, other padding or spare bits."""
    if len(token) > MAX_TOKEN_CHARS or len(token) % 4 or not _TOKEN_TEXT.fullmatch(token):
        raise TokenError("invalid token")
    raw = token.encode("ascii")
    try:
        if base64.urlsafe_b64encode(base64.urlsafe_b64decode(raw)) != raw:
            raise TokenError("invalid token")
    except binascii.Error:
        raise TokenError("invalid token") from None
    return raw


def decode(keys: KeyRing, token: str) -> TokenData:
    """The token's data; TokenError when it is invalid or expired."""
    raw = canonical(token)
    try:
        payload = json.loads(keys.fernet().decrypt(raw))
        data = TokenData(payload["u"], payload["p"], tuple(payload["m"]), payload["a"],
                         _from_ts(payload["i"]), _from_ts(payload["e"]),
                         _chain(payload.get("c", [])))
    except (InvalidToken, ValueError, KeyError, TypeError, OverflowError, OSError):
        raise TokenError("invalid token") from None
    if data.expires_at <= now():
        raise TokenError("invalid token")
    return data


def _chain(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_CHAIN or not all(
            isinstance(v, str) and 0 < len(v) <= 64 for v in value):
        raise ValueError("bad chain")
    return tuple(value)


def _to_ts(value: datetime) -> float:
    """Naive datetimes here are UTC; .timestamp() alone would read them as local time."""
    return value.replace(tzinfo=UTC).timestamp()


def _from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def iso(value: datetime) -> str:
    """Keystone's timestamp format: microseconds and a Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
