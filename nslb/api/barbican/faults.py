"""Barbican's error shape: {"code": <status>, "title": <HTTP reason>, "description": ...}
(barbican/api/hooks.py JSONErrorHook), with its wordings:

- pecan.abort(...) in a controller: the description as written ("Secret not found.");
- an exception inside an operation (generate_safe_exception_message): "<operation> issue
  seen - <reason>." for client errors, "<operation> attempt not allowed - please review
  your user/project privileges" for policy, "<operation> failure seen - please contact
  site administrator." for anything unexpected (nothing of the cause is shown).

A 401 comes from keystonemiddleware in front of Barbican, in Keystone's shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse, Response

from nslb.api.http import MAX_MESSAGE_CHARS, shown

UNAUTHORIZED = "The request you have made requires authentication."


class BarbicanError(Exception):
    """An error for the user; `description` is complete (already prefixed if needed)."""

    def __init__(self, status: int, description: str | None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def abort(status: int, description: str | None = None) -> BarbicanError:
    return BarbicanError(status, description)


def issue(operation: str, status: int, reason: str) -> BarbicanError:
    return BarbicanError(status, f"{operation} issue seen - {reason}.")


def not_allowed(operation: str) -> BarbicanError:
    return BarbicanError(403, f"{operation} attempt not allowed - please review your "
                              "user/project privileges")


def failure(operation: str) -> BarbicanError:
    return BarbicanError(500, f"{operation} failure seen - please contact site "
                              "administrator.")


def title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def body(status: int, description: str | None) -> dict[str, Any]:
    text = None if description is None else shown(description, MAX_MESSAGE_CHARS)
    return {"code": status, "title": title(status), "description": text}


def response(exc: BarbicanError) -> Response:
    if exc.status == 401:
        return unauthorized()
    return JSONResponse(body(exc.status, exc.description), status_code=exc.status)


def unauthorized() -> Response:
    return JSONResponse({"error": {"code": 401, "title": "Unauthorized",
                                   "message": UNAUTHORIZED}},
                        status_code=401,
                        headers={"WWW-Authenticate": 'Keystone uri="/identity/v3"'})
