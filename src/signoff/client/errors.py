"""Every exception the clients raise, in one hierarchy (like ``httpx._exceptions``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signoff.models import Approval


class SignoffError(Exception):
    """Base of everything signoff raises."""


class TransportError(SignoffError):
    """The server could not be reached (after retries)."""


class APIError(SignoffError):
    """The server answered with an error status; ``error`` is its message."""

    def __init__(self, status_code: int, error: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status_code}: {error}")
        self.status_code = status_code
        self.error = error
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.status_code, self.error, self.body))


@dataclass(frozen=True)
class Problem:
    """One thing the service found wrong in a document it was sent: ``field`` is where in
    the document (``policies.1.when``), ``message`` why."""

    field: str
    message: str


class InvalidRequest(APIError):
    """400, 413 or 422: the request was refused as malformed.

    ``problems`` lists what the service found wrong, field by field, when it says (a
    policy file's conditions, unknown groups); empty when the answer has only ``error``.
    """

    @property
    def problems(self) -> list[Problem]:
        found = self.body.get("problems") if isinstance(self.body, dict) else None
        if not isinstance(found, list):
            return []
        return [
            Problem(str(item.get("field", "")), str(item.get("message", "")))
            for item in found
            if isinstance(item, dict)
        ]


class Unauthorized(APIError):
    """401 or 403: missing, wrong or insufficient credentials."""


class NotFound(APIError):
    """404."""


class Conflict(APIError):
    """409: e.g. a second decision, or an idempotency key reused with another body."""


class RateLimited(APIError):
    """429 after the retries ran out."""


class ServerError(APIError):
    """5xx after the retries ran out."""


def error_for_status(status_code: int, error: str, body: Any = None) -> APIError:
    if status_code in (400, 413, 422):
        return InvalidRequest(status_code, error, body)
    if status_code in (401, 403):
        return Unauthorized(status_code, error, body)
    if status_code == 404:
        return NotFound(status_code, error, body)
    if status_code == 409:
        return Conflict(status_code, error, body)
    if status_code == 429:
        return RateLimited(status_code, error, body)
    if status_code >= 500:
        return ServerError(status_code, error, body)
    return APIError(status_code, error, body)


class ApprovalRejected(SignoffError):
    """A reviewer (or the system) rejected the approval."""

    def __init__(self, approval: Approval) -> None:
        note = f": {approval.decision_note}" if approval.decision_note else ""
        super().__init__(f"approval {approval.id} was rejected{note}")
        self.approval = approval

    def __reduce__(self) -> tuple[Any, ...]:
        # Engines (Prefect) pickle a failed run's exception: rebuild from the approval.
        return (type(self), (self.approval,))


class ApprovalExpired(ApprovalRejected):
    """Nobody decided before the approval's lifetime ran out (``retryable`` is true)."""

    def __init__(self, approval: Approval) -> None:
        SignoffError.__init__(self, f"approval {approval.id} expired without a decision")
        self.approval = approval


class ApprovalCancelled(ApprovalRejected):
    """Whoever asked withdrew the approval before anyone decided."""

    def __init__(self, approval: Approval) -> None:
        SignoffError.__init__(self, f"approval {approval.id} was withdrawn before a decision")
        self.approval = approval


class DecisionTimeout(SignoffError):
    """The caller stopped waiting before anyone decided; the approval is still pending."""

    def __init__(self, approval_id: str, timeout: float) -> None:
        super().__init__(f"no decision on approval {approval_id} within {timeout:g}s")
        self.approval_id = approval_id
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.approval_id, self.timeout))
