"""The few typed errors of stageflow. Each has a stable ``code`` the API returns."""

from __future__ import annotations


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
