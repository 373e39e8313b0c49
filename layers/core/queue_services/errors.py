"""The exception hierarchy of Queue Services; HTTP mapping lives in http_errors, retry mapping in delivery."""

from __future__ import annotations


class QueueServicesError(Exception):
    """Base class for every error the service raises on purpose."""


class RequestError(QueueServicesError):
    """The caller asked for something that cannot be done (maps to a 4xx)."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(RequestError):
    """Input that passed schema validation but breaks a business rule."""

    status_code = 422


class NotFound(RequestError):
    """The resource does not exist or belongs to another workspace."""

    status_code = 404


class Conflict(RequestError):
    """The resource is in a state that forbids the operation (e.g. already sent)."""

    status_code = 409


class ReadOnly(RequestError):
    """A write route of the dashboard while the deployment runs it read-only (DashboardReadOnly)."""

    status_code = 405

    def __init__(self) -> None:
        super().__init__("the dashboard is read-only in this deployment (parameter DashboardReadOnly)")


class DependencyUnavailable(QueueServicesError):
    """An AWS dependency (queue, table) could not be reached (maps to 503)."""


class ProviderError(QueueServicesError):
    """A provider call did not end in a 2xx; subclasses say whether it may be retried."""

    def __init__(self, reason: str, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class RateLimitedError(ProviderError):
    """The provider said slow down (429 or a rate-limit text); retry later, honouring retry_after."""

    def __init__(self, reason: str, status_code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason, status_code)
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """408, 5xx, timeouts and connection errors; retry with backoff."""


class PermanentProviderError(ProviderError):
    """Any other 4xx; fail the message now, never retry."""
