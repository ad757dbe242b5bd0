"""Password hashing with argon2id: slow on purpose, so a stolen database is expensive."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): slow enough to make offline
# guessing expensive, fast enough (~50 ms here) that every CLI login is not a wait.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verifying against this keeps "no such user" as slow as "wrong password".
_DUMMY = _hasher.hash("nslb-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """False for a user without a password (None or ""), after the same slow check."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
