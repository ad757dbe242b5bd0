"""One-time join tokens: `nslb1.<id>.<secret>.<CA fingerprint>`.

The controller keeps only the secret's sha256 (the secret is 32 random bytes, so a fast
hash cannot be brute-forced), the expiry and when it was used; a token is good once,
before its expiry. The CA fingerprint travels in the token so the joining agent can pin
the controller's CA before it sends anything: the agent needs no other trust.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "nslb1"
_TOKEN = re.compile(r"^nslb1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})\.([0-9a-f]{64})$")


class BadToken(ValueError):
    """Not a join token (wrong shape); the message never repeats the token."""


@dataclass(frozen=True)
class JoinToken:
    token_id: str
    secret: str
    ca_fingerprint: str

    @property
    def text(self) -> str:
        return f"{PREFIX}.{self.token_id}.{self.secret}.{self.ca_fingerprint}"

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def new(ca_fingerprint: str) -> JoinToken:
    return JoinToken(secrets.token_hex(8), secrets.token_urlsafe(32), ca_fingerprint)


def parse(text: str) -> JoinToken:
    found = _TOKEN.match(text.strip())
    if found is None:
        raise BadToken("not an nslb join token (nslb1.<id>.<secret>.<fingerprint>)")
    return JoinToken(found.group(1), found.group(2), found.group(3))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
