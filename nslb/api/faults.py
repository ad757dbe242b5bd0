"""Errors in the exact shapes clients parse.

Octavia (WSME): {"faultcode": "Client"|"Server", "faultstring": ..., "debuginfo": null}.
Neutron: {"NeutronError": {"type": ..., "message": ..., "detail": ""}}.
Handlers raise `ApiError` subclasses; the app renders them in the shape of the API that
was called. The write-side rules (nslb/lbaas) raise domain errors instead, which
`from_domain` turns into these, in the one table below.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from nslb.lbaas import errors


class ApiError(Exception):
    """An error with an HTTP status and a message meant for the user."""

    status = 500
    neutron_type = "NeutronError"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def octavia_body(self) -> dict[str, Any]:
        return {
            "faultcode": "Client" if self.status < 500 else "Server",
            "faultstring": self.message,
            "debuginfo": None,
        }

    def keystone_body(self) -> dict[str, Any]:
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  409: "Conflict", 501: "Not Implemented"}
        return {"error": {"code": self.status, "title": titles.get(self.status, "Error"),
                          "message": self.message}}

    def barbican_body(self) -> dict[str, Any]:
        return {"code": self.status, "title": HTTPStatus(self.status).phrase,
                "description": self.message}

    def nova_body(self) -> dict[str, Any]:
        codes = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
                 404: "itemNotFound", 405: "badMethod", 409: "conflictingRequest",
                 501: "notImplemented"}
        return {codes.get(self.status, "computeFault"): {"code": self.status,
                                                        "message": self.message}}

    def neutron_body(self) -> dict[str, Any]:
        return {"NeutronError": {"type": self.neutron_type, "message": self.message,
                                 "detail": ""}}


class BadRequest(ApiError):
    status = 400
    neutron_type = "BadRequest"


class ValidationFailure(BadRequest):
    """Octavia prefixes semantic validation errors with 'Validation failure: '."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Validation failure: {message}")


class Unauthorized(ApiError):
    """No valid token. The message never says which part of the credentials was wrong."""

    status = 401
    neutron_type = "Unauthorized"

    def __init__(self, message: str = "The request you have made requires authentication."
                 ) -> None:
        super().__init__(message)


class Forbidden(ApiError):
    status = 403
    neutron_type = "PolicyNotAuthorized"


class NotFound(ApiError):
    status = 404
    neutron_type = "NotFound"

    @classmethod
    def of(cls, resource: str, ident: str) -> NotFound:
        return cls(f"{resource} {ident} not found.")


class Conflict(ApiError):
    status = 409
    neutron_type = "Conflict"


class NotImplementedOption(ApiError):
    """Octavia's ProviderUnsupportedOptionError: the request names something not built."""

    status = 501

    def __init__(self, option: str, provider: str = "amphora") -> None:
        super().__init__(
            f"Provider '{provider}' does not support a requested option: {option}"
        )


# Domain error -> the API error it is answered with, most specific first. The body is the
# called API's (octavia_body, neutron_body...), the message the rule's own.
DOMAIN_FAULTS: tuple[tuple[type[errors.DomainError], type[ApiError], int], ...] = (
    (errors.NotFound, NotFound, 404),
    (errors.Conflict, Conflict, 409),
    (errors.Invalid, BadRequest, 400),
    (errors.Forbidden, Forbidden, 403),
    (errors.Unsupported, ApiError, 501),
)


def from_domain(exc: errors.DomainError) -> ApiError:
    """The API error a refused rule is answered with: status and Neutron type by kind."""
    for kind, fault, status in DOMAIN_FAULTS:
        if isinstance(exc, kind):
            return fault(exc.message, status)
    return ApiError(exc.message, 500)
