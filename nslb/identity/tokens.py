"""Fernet tokens: small, signed and encrypted, validated without a token table.

A token carries only who (user), where (project or nothing), how (methods), a random
audit id and its lifetime. Roles are looked up at validation time, so removing a role
takes effect at once; revocation is by audit id.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import InvalidToken

from nslb.identity.keys import KeyRing

DEFAULT_TTL = timedelta(hours=1)


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


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def issue(keys: KeyRing, user_id: str, project_id: str | None, methods: tuple[str, ...],
          ttl: timedelta = DEFAULT_TTL,
          expires_at: datetime | None = None) -> tuple[str, TokenData]:
    """A new token; `expires_at` caps it (a token made from a token never outlives it)."""
    issued = now()
    expiry = issued + ttl if expires_at is None else min(issued + ttl, expires_at)
    data = TokenData(user_id, project_id, methods, new_audit_id(), issued, expiry)
    payload = {"u": user_id, "p": project_id, "m": list(methods), "a": data.audit_id,
               "i": _to_ts(issued), "e": _to_ts(expiry)}
    token = keys.fernet().encrypt(json.dumps(payload, separators=(",", ":")).encode())
    return token.decode(), data


def decode(keys: KeyRing, token: str) -> TokenData:
    """The token's data; TokenError when it is invalid or expired."""
    try:
        raw = keys.fernet().decrypt(token.encode())
        payload = json.loads(raw)
        data = TokenData(payload["u"], payload["p"], tuple(payload["m"]), payload["a"],
                         _from_ts(payload["i"]), _from_ts(payload["e"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        raise TokenError("invalid token") from None
    if data.expires_at <= now():
        raise TokenError("invalid token")
    return data


def _to_ts(value: datetime) -> float:
    """Naive datetimes here are UTC; .timestamp() alone would read them as local time."""
    return value.replace(tzinfo=UTC).timestamp()


def _from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def iso(value: datetime) -> str:
    """Keystone's timestamp format: microseconds and a Z."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
