"""Authentication and token validation: the logic behind /identity/v3/auth/tokens and the
check every Octavia/Neutron request goes through when --auth keystone is on.

Failures never say which part was wrong (user, password, project or token): one
`AuthFailed` with one message.

Several controllers on one PostgreSQL database: the validation cache of each holds an
answer only while the shared identity epoch (db/cluster_state.py) is what it was, and
`forget()` (called after every identity change and revocation) bumps it, so a token
revoked or a password changed through one controller is refused by every other one as
soon as the change's request has returned. A revocation bumps it in its own
transaction; the other changes (users, grants) bump it just after they commit, so a
controller killed between the two leaves the others' cached validations of the changed
user valid for at most `cache_seconds`, for a change whose request never returned. The
failed-login throttle counts in the database then (identity/shared_throttle.py), across
controllers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from nslb.db import identity as repo
from nslb.db.cluster_state import Epoch, LocalEpoch
from nslb.db.engine import Database
from nslb.identity import passwords, tokens
from nslb.identity.gate import Busy, VerifyGate
from nslb.identity.keys import KeyRing
from nslb.identity.refs import DomainRef, Scope, UserRef
from nslb.identity.throttle import LoginThrottle
from nslb.model.identity import DEFAULT_DOMAIN_ID, Project, User

UNAUTHORIZED = "The request you have made requires authentication."
CACHE_MAX = 10000


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


def _domain_id(ref: DomainRef | None) -> str:
    if ref is None or ref.is_default():
        return DEFAULT_DOMAIN_ID
    raise AuthFailed()


def _voided(user: User, data: tokens.TokenData) -> bool:
    """Issued before the user's password changed (or the user was disabled)."""
    return user.tokens_valid_after is not None and data.issued_at < user.tokens_valid_after


def _cache_key(token: str) -> bytes:
    """Cached by digest: a cache full of long tokens stays small."""
    return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=20).digest()


class Identity:
    def __init__(self, db: Database, keys: KeyRing, ttl: timedelta = tokens.DEFAULT_TTL,
                 throttle: LoginThrottle | None = None, cache_seconds: float = 30.0,
                 gate: VerifyGate | None = None, epoch: Epoch | None = None) -> None:
        self.db = db
        self.keys = keys
        self.ttl = ttl
        self.throttle = throttle or LoginThrottle()
        self.gate = gate or VerifyGate()
        self.cache_seconds = cache_seconds
        # Identity changes through any controller (a local counter with one controller).
        self.epoch: Epoch = epoch or LocalEpoch()
        self._cache: dict[bytes, tuple[float, tuple[int, int], Principal]] = {}
        self._cache_generation = (-1, -1)
        self._cache_lock = threading.Lock()

    # --- issuing ---------------------------------------------------------------------

    def admit(self, source: str, user: UserRef) -> float:
        """Count a login attempt from `source`; 0, or the seconds until the throttle would
        admit one (the attempt is then refused at once, not parked)."""
        return self.throttle.admit(source, user.throttle_key)

    def password_login(self, source: str, user_ref: UserRef, password: str,
                       scope: Scope) -> tuple[str, Principal]:
        """Check the password of an admitted attempt (slowly: call it off the event
        loop) and issue a token. AuthFailed, or gate.Busy when the server is saturated."""
        with self.db.read() as session:
            user = self._user(session, user_ref)
        try:
            ok = self.verify_password(user.password_hash if user else None, password)
        except Busy:
            self.throttle.refund(source, user_ref.throttle_key)
            raise
        if not ok:
            raise AuthFailed()
        assert user is not None
        if not user.enabled:
            raise AuthFailed()
        self.throttle.succeeded(source, user_ref.throttle_key)
        with self.db.read() as session:
            project = self._scope(session, user, scope)
        return self._issue(user, project, ("password",), None)

    def verify_password(self, password_hash: str | None, password: str) -> bool:
        """argon2 within the gate's bound on concurrent checks (raises gate.Busy)."""
        with self.gate.slot():
            return passwords.verify(password_hash, password)

    def token_login(self, token: str, scope: Scope) -> tuple[str, Principal]:
        """Trade a valid token for another (e.g. unscoped -> project scoped); the new one
        joins the old one's audit chain, so revoking the old one ends it too."""
        old = self.validate(token)
        with self.db.read() as session:
            project = self._scope(session, old.user, scope)
        methods = tuple(dict.fromkeys((*old.token.methods, "token")))
        return self._issue(old.user, project, methods, old.token.expires_at, old.token)

    def _issue(self, user: User, project: Project | None, methods: tuple[str, ...],
               cap: datetime | None,
               parent: tokens.TokenData | None = None) -> tuple[str, Principal]:
        try:
            token, _ = tokens.issue(self.keys, user.id, project.id if project else None,
                                    methods, self.ttl, cap, parent)
        except tokens.TokenError:
            raise AuthFailed() from None
        return token, self.validate(token)

    @staticmethod
    def _user(session: Session, ref: UserRef) -> User | None:
        if ref.id:
            return session.get(User, ref.id)
        if ref.name:
            return repo.user_by_name(session, ref.name, _domain_id(ref.domain))
        return None

    @staticmethod
    def _scope(session: Session, user: User, scope: Scope) -> Project | None:
        if scope == "unscoped":
            return None
        if scope is None:
            if not user.default_project_id:
                return None
            project = session.get(Project, user.default_project_id)
            return project if project and repo.roles_of(session, user.id, project.id) else None
        if scope.id:
            project = session.get(Project, scope.id)
        elif scope.name:
            project = repo.project_by_name(session, scope.name, _domain_id(scope.domain))
        else:
            raise AuthFailed()
        if project is None or not project.enabled or not repo.roles_of(session, user.id,
                                                                        project.id):
            raise AuthFailed()
        return project

    # --- validating ------------------------------------------------------------------

    def validate(self, token: str) -> Principal:
        """The principal of a valid token; AuthFailed for anything else."""
        key, generation = _cache_key(token), (self.keys.current(), self.epoch.current())
        cached = self._cached(key, generation)
        if cached is not None:
            return cached
        try:
            data = tokens.decode(self.keys, token)
        except tokens.TokenError:
            raise AuthFailed() from None
        with self.db.read() as session:
            if repo.any_revoked(session, data.lineage):
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
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.cache_seconds, generation, principal)
        return principal

    def _cached(self, key: bytes, generation: tuple[int, int]) -> Principal | None:
        """A recent validation made with the current key ring (a rotated-out key must stop
        validating at once) and identity epoch, unless the token expired meanwhile."""
        with self._cache_lock:
            if generation != self._cache_generation:  # a rotation or an identity change
                self._cache.clear()
                self._cache_generation = generation
            entry = self._cache.get(key)
        if entry is None or entry[0] < time.monotonic() or entry[1] != generation:
            return None
        if entry[2].token.expires_at <= tokens.now():
            return None
        return entry[2]

    def forget(self) -> None:
        """Drop cached validations: called after any identity change or revocation (in
        every controller: the epoch moves)."""
        with self._cache_lock:
            self._cache.clear()
        self.epoch.bump()

    def revoke(self, token: str) -> None:
        """Revoke the token and, through its audit id, every token made from it."""
        principal = self.validate(token)
        with self.db.write() as session:
            repo.revoke(session, principal.token.audit_id, principal.token.expires_at)
            repo.purge_revocations(session, tokens.now())
            self.epoch.bump(session)  # with the revocation: no kill -9 falls between
        with self._cache_lock:
            self._cache.clear()
