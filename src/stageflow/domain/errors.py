"""The few typed errors of stageflow. Each has a stable ``code`` the API returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class StageflowError(Exception):
    """Base class: a message that names the problem, a stable code, and retryability."""

    code = "error"
    status = 400
    retryable = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(StageflowError):
    """The thing does not exist, or is not visible to the caller (never says which)."""

    code = "not_found"
    status = 404


class ValidationFailed(StageflowError):
    """Input that breaks a rule; ``field`` names the offending field."""

    code = "validation_error"
    status = 422


class Conflict(StageflowError):
    """A state conflict, such as a duplicate name."""

    code = "conflict"
    status = 409


class StaleVersion(Conflict):
    """The record changed since the caller read it (optimistic concurrency)."""

    code = "stale_version"


class PermissionDenied(StageflowError):
    """The caller lacks a named permission."""

    code = "permission_denied"
    status = 403


class AuthenticationFailed(StageflowError):
    """No valid credentials."""

    code = "unauthenticated"
    status = 401


def first_problem(
    exc: ValidationError, *, named: bool = True, with_input: bool = False
) -> ValidationFailed:
    """The first problem pydantic found, naming its field (``named``: also in the message;
    ``with_input``: and the value given)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    given = f" (not {first['input']!r})" if with_input and first["type"] != "missing" else ""
    message = f"{where}: {first['msg']}{given}" if named else first["msg"]
    return ValidationFailed(message, field=where)
