"""Authentication and token validation: the logic behind /identity/v3/auth/tokens and the
check every Octavia/Neutron request goes through when --auth keystone is on.

Failures never say which part was wrong (user, password, project or token): one
`AuthFailed` with one message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from nslb.db import identity as repo
from nslb.db.engine import Database
from nslb.identity import passwords, tokens
from nslb.identity.keys import KeyRing
from nslb.identity.throttle import LoginThrottle
from nslb.model.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, Project, User

UNAUTHORIZED = "The request you have made requires authentication."


class AuthFailed(Exception):
    """401, with Keystone's generic message."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for, with roles as of now."""

    user: User
    project: Project | None
    roles: tuple[tuple[str, str], ...]  # (role id, role name)
    token: tokens.TokenData

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(name for _, name in self.roles)


def _domain_id(ref: dict[str, Any] | None) -> str:
    """Only the Default domain exists; accept it by id or by name."""
    ref = ref or {}
    if ref.get("id") in (None, DEFAULT_DOMAIN_ID) and ref.get("name") in (None,
                                                                          DEFAULT_DOMAIN_NAME):
        return DEFAULT_DOMAIN_ID
    raise AuthFailed()


def _voided(user: User, data: tokens.TokenData) -> bool:
    """Issued before the user's password changed (or the user was disabled)."""
    return user.tokens_valid_after is not None and data.issued_at < user.tokens_valid_after


class Identity:
    def __init__(self, db: Database, keys: KeyRing, ttl: timedelta = tokens.DEFAULT_TTL,
                 throttle: LoginThrottle | None = None, cache_seconds: float = 30.0) -> None:
        self.db = db
        self.keys = keys
        self.ttl = ttl
        self.throttle = throttle or LoginThrottle()
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._cache_lock = threading.Lock()

    # --- issuing ---------------------------------------------------------------------

    @staticmethod
    def _throttle_key(user_ref: dict[str, Any]) -> str:
        return str(user_ref.get("id") or user_ref.get("name") or "")

    def login_wait(self, user_ref: dict[str, Any]) -> float:
        """Count a login attempt; the seconds to wait before checking it (the HTTP layer
        waits without holding a thread, then calls password_login with waited=True)."""
        return self.throttle.reserve(self._throttle_key(user_ref))

    def password_login(self, user_ref: dict[str, Any], password: str,
                       scope: dict[str, Any] | None,
                       waited: bool = False) -> tuple[str, Principal]:
        """Check the password (slowly, throttled per user) and issue a token."""
        if not waited:
            pause = self.login_wait(user_ref)
            if pause:
                time.sleep(pause)
        with self.db.read() as session:
            user = self._user(session, user_ref)
            ok = passwords.verify(user.password_hash if user else None, password)
            if not ok or user is None or not user.enabled:
                raise AuthFailed()
            self.throttle.succeeded(self._throttle_key(user_ref))
            project = self._scope(session, user, scope)
        return self._issue(user, project, ("password",), None)

    def token_login(self, token: str, scope: dict[str, Any] | None) -> tuple[str, Principal]:
        """Trade a valid token for another (e.g. unscoped -> project scoped)."""
        old = self.validate(token)
        with self.db.read() as session:
            project = self._scope(session, old.user, scope)
        methods = tuple(dict.fromkeys((*old.token.methods, "token")))
        return self._issue(old.user, project, methods, old.token.expires_at)

    def _issue(self, user: User, project: Project | None, methods: tuple[str, ...],
               cap: Any) -> tuple[str, Principal]:
        token, data = tokens.issue(self.keys, user.id, project.id if project else None,
                                   methods, self.ttl, cap)
        return token, self.validate(token)

    @staticmethod
    def _user(session: Session, ref: dict[str, Any]) -> User | None:
        if ref.get("id"):
            return session.get(User, ref["id"])
        if ref.get("name"):
            return repo.user_by_name(session, ref["name"], _domain_id(ref.get("domain")))
        return None

    @staticmethod
    def _scope(session: Session, user: User, scope: dict[str, Any] | None) -> Project | None:
        if scope == "unscoped":
            return None
        if not scope:
            if not user.default_project_id:
                return None
            project = session.get(Project, user.default_project_id)
            return project if project and repo.roles_of(session, user.id, project.id) else None
        ref = scope.get("project") if isinstance(scope, dict) else None
        if not isinstance(ref, dict):
            raise AuthFailed()
        if ref.get("id"):
            project = session.get(Project, ref["id"])
        else:
            project = repo.project_by_name(session, str(ref.get("name", "")),
                                           _domain_id(ref.get("domain")))
        if project is None or not project.enabled or not repo.roles_of(session, user.id,
                                                                        project.id):
            raise AuthFailed()
        return project

    # --- validating ------------------------------------------------------------------

    def validate(self, token: str) -> Principal:
        """The principal of a valid token; AuthFailed for anything else."""
        cached = self._cached(token)
        if cached is not None:
            return cached
        try:
            data = tokens.decode(self.keys, token)
        except tokens.TokenError:
            raise AuthFailed() from None
        with self.db.read() as session:
            if repo.is_revoked(session, data.audit_id):
                raise AuthFailed()
            user = session.get(User, data.user_id)
            if user is None or not user.enabled or _voided(user, data):
                raise AuthFailed()
            project = None
            roles: tuple[tuple[str, str], ...] = ()
            if data.project_id is not None:
                project = session.get(Project, data.project_id)
                found = repo.roles_of(session, user.id, data.project_id)
                if project is None or not project.enabled or not found:
                    raise AuthFailed()
                roles = tuple((r.id, r.name) for r in found)
        principal = Principal(user, project, roles, data)
        with self._cache_lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[token] = (time.monotonic() + self.cache_seconds, principal)
        return principal

    def _cached(self, token: str) -> Principal | None:
        with self._cache_lock:
            entry = self._cache.get(token)
        if entry is None or entry[0] < time.monotonic():
            return None
        if entry[1].token.expires_at <= tokens.now():
            return None
        return entry[1]

    def forget(self) -> None:
        """Drop cached validations: called after any identity change or revocation."""
        with self._cache_lock:
            self._cache.clear()

    def revoke(self, token: str) -> None:
        principal = self.validate(token)
        with self.db.write() as session:
            repo.revoke(session, principal.token.audit_id, principal.token.expires_at)
            repo.purge_revocations(session, tokens.now())
        self.forget()
