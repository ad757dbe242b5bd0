"""Why a write-side rule refused a change, in Octavia's words and without HTTP.

The rules of this room raise these; each API turns them into its own fault shape in one
place (`nslb.api.faults.from_domain`: the status, then Octavia's faultstring/faultcode or
Neutron's NeutronError body by the path called). The message is the text Octavia uses,
so it reaches the client unchanged whichever API asked.
"""

from __future__ import annotations


class DomainError(Exception):
    """A change the load balancer's rules refuse; `message` is meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object does not exist, or the caller may not see it (the same answer)."""

    @classmethod
    def of(cls, resource: str, ident: str) -> NotFound:
        return cls(f"{resource} {ident} not found.")


class Conflict(DomainError):
    """The change clashes with the state of what exists (an address in use, no room)."""


class Immutable(Conflict):
    """Octavia's lock: the object (or its load balancer) is PENDING_* and cannot change."""

    def __init__(self, resource: str, ident: str) -> None:
        super().__init__(f"{resource} {ident} is immutable and cannot be updated.")


class Invalid(DomainError):
    """The request asks for something the rules do not allow."""


class ValidationFailure(Invalid):
    """Octavia prefixes semantic validation errors with 'Validation failure: '."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Validation failure: {message}")


class ListenerNoChildren(Invalid):
    """Octavia's: a PROMETHEUS listener serves its load balancer's metrics itself, so it
    takes no default pool, no pool and no L7 policy."""

    def __init__(self, protocol: str = "PROMETHEUS") -> None:
        super().__init__(f"Protocol {protocol} listeners cannot have child objects.")


class Forbidden(DomainError):
    """The caller may not do this to this object (a gateway address, another project's)."""


class QuotaExceeded(Forbidden):
    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota has been met for resources: {resource}")


class Unsupported(DomainError):
    """Octavia's ProviderUnsupportedOptionError: the request names something not built."""

    def __init__(self, option: str, provider: str = "amphora") -> None:
        super().__init__(
            f"Provider '{provider}' does not support a requested option: {option}")
