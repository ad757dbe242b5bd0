"""Request bodies of the identity API, typed and bounded (probe F11).

Keystone's own JSON schemas type every field of an auth request and leave unknown fields
alone; these do the same with pydantic in strict mode (a number is not a string, 1 is not
true), bound every string (names 255 characters, project names 64 as the table holds
them, ids 64, passwords 4096) and refuse NUL characters (PostgreSQL cannot store them).
A failed check is a 400 in Keystone's shape that names the field and never echoes the
value (it may be a password, or megabytes long).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from nslb.api.faults import BadRequest, NotFound
from nslb.identity import tokens
from nslb.identity.refs import DomainRef, ProjectRef, Scope, UserRef

M = TypeVar("M", bound=BaseModel)
ID_MAX, NAME_MAX, PROJECT_NAME_MAX, DESCRIPTION_MAX, PASSWORD_MAX = 64, 255, 64, 255, 4096


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a non-blank value is required")
    return value


NoNul = AfterValidator(_no_nul)
NotBlank = AfterValidator(_not_blank)
Id = Annotated[str, StringConstraints(max_length=ID_MAX), NoNul]
Name = Annotated[str, StringConstraints(max_length=NAME_MAX), NoNul, NotBlank]
ProjectName = Annotated[str, StringConstraints(max_length=PROJECT_NAME_MAX), NoNul, NotBlank]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX), NoNul]
Password = Annotated[str, StringConstraints(max_length=PASSWORD_MAX), NoNul]
NewPassword = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX), NoNul]


def _present(value: Any) -> Any:
    if value is None:
        raise ValueError("null is not allowed here (leave the field out)")
    return value


# May be left out, but not null: Keystone's schemas type these as plain strings/booleans.
NotNull = BeforeValidator(_present)
OptId = Annotated[Id | None, NotNull]
OptName = Annotated[Name | None, NotNull]
OptProjectName = Annotated[ProjectName | None, NotNull]
OptPassword = Annotated[Password | None, NotNull]
OptBool = Annotated[bool | None, NotNull]


class _Body(BaseModel):
    """Strict types; unknown fields are ignored, as Keystone ignores them."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _named(model: Any, where: str) -> Any:
    if model.id is None and model.name is None:
        raise ValueError(f"id or name must be present in {where}")
    return model


# --- POST /v3/auth/tokens ------------------------------------------------------------


class Domain(_Body):
    id: OptId = None
    name: OptName = None

    @model_validator(mode="after")
    def _has_id_or_name(self) -> Domain:
        return _named(self, "domain")  # type: ignore[no-any-return]

    def ref(self) -> DomainRef:
        return DomainRef(self.id, self.name)


class AuthUser(_Body):
    id: OptId = None
    name: OptName = None
    password: OptPassword = None
    domain: Domain | None = None

    @model_validator(mode="after")
    def _has_id_or_name(self) -> AuthUser:
        return _named(self, "user")  # type: ignore[no-any-return]

    def ref(self) -> UserRef:
        return UserRef(self.id, self.name, self.domain.ref() if self.domain else None)


class PasswordMethod(_Body):
    user: AuthUser


class TokenMethod(_Body):
    # Longer than any token nslb issues is simply not a token: 401 at validation.
    id: Annotated[str | None, StringConstraints(max_length=tokens.MAX_TOKEN_CHARS * 2),
                  NotNull] = None


class AuthIdentity(_Body):
    methods: Annotated[list[Annotated[str, StringConstraints(max_length=64)]],
                       Field(max_length=8)]
    password: PasswordMethod | None = None
    token: TokenMethod | None = None


class ScopeProject(_Body):
    id: OptId = None
    name: OptProjectName = None
    domain: Domain | None = None

    @model_validator(mode="after")
    def _has_id_or_name(self) -> ScopeProject:
        return _named(self, "project")  # type: ignore[no-any-return]


class ScopeBody(_Body):
    project: ScopeProject | None = None
    domain: Domain | None = None
    system: dict[str, Any] | None = None
    trust: dict[str, Any] | None = Field(default=None, alias="OS-TRUST:trust")
    unscoped: dict[str, Any] | None = None


class Auth(_Body):
    identity: AuthIdentity
    scope: ScopeBody | None = None

    @field_validator("scope", mode="before")
    @classmethod
    def _unscoped_string(cls, value: Any) -> Any:
        """Keystone takes `"scope": "unscoped"` (and old clients' {"unscoped": {}})."""
        if isinstance(value, str):
            if value != "unscoped":
                raise ValueError("expected an object or 'unscoped'")
            return {"unscoped": {}}
        return value

    def scope_ref(self) -> Scope:
        """The scope asked for. Unsupported for a domain, system or trust scope (nslb has
        projects only), which the caller answers with a 401 as Keystone does for a scope
        the user has no role on."""
        scope = self.scope
        if scope is None:
            return None
        if scope.project is not None:
            p = scope.project
            return ProjectRef(p.id, p.name, p.domain.ref() if p.domain else None)
        if scope.domain is not None or scope.system is not None or scope.trust is not None:
            raise Unsupported()
        return "unscoped" if scope.unscoped is not None else None  # {}: the default project


class Unsupported(Exception):
    """A domain, system or trust scope."""


# --- projects, users, roles ----------------------------------------------------------


class ProjectCreate(_Body):
    name: ProjectName
    description: Description | None = None
    enabled: OptBool = None
    domain_id: OptId = None


class ProjectUpdate(_Body):
    name: OptProjectName = None
    description: Description | None = None
    enabled: OptBool = None


class UserCreate(_Body):
    name: Name
    password: Password | None = None
    description: Description | None = None
    enabled: OptBool = None
    default_project_id: Id | None = None
    domain_id: OptId = None


class UserUpdate(_Body):
    name: OptName = None
    password: Password | None = None
    description: Description | None = None
    enabled: OptBool = None
    default_project_id: Id | None = None


class PasswordChange(_Body):
    original_password: Password | None = None
    password: NewPassword


class RoleCreate(_Body):
    name: Name
    description: Description | None = None
    domain_id: Id | None = None  # null: a global role, the only kind nslb has


# --- helpers -------------------------------------------------------------------------


def parse(model: type[M], data: Any) -> M:
    """`data` checked against `model`; a Keystone-style 400 naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Which field and why, never the value (pydantic's messages for these types do not
    contain the input; value errors are ours)."""
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = "/".join(str(p) for p in err["loc"] if not isinstance(p, int))
    reason = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        reason = "a value is required"
    return f"Invalid input for field '{loc or 'body'}': {reason}."


def path_id(value: str, kind: str) -> str:
    """An id from the URL, or 404 before it reaches the database (the message shows at
    most 64 characters)."""
    if len(value) > ID_MAX or "\x00" in value:
        raise NotFound(f"Could not find {kind}: {value[:ID_MAX]}.")
    return value


class NoMatch(Exception):
    """A query filter no stored value can match (too long, or holding NUL)."""


def filter_value(value: str | None, limit: int = NAME_MAX) -> str | None:
    """A query filter (None: not filtered); NoMatch when nothing stored could match it, so
    the handler answers an empty list without asking the database."""
    if not value:
        return None
    if len(value) > limit or "\x00" in value:
        raise NoMatch()
    return value
