"""HTTP clients (sync and async from one implementation) for signoff's two APIs."""

from signoff.client._transport import RetryPolicy
from signoff.client.approvals import ApprovalsClient, AsyncApprovalsClient
from signoff.client.errors import (
    APIError,
    ApprovalExpired,
    ApprovalRejected,
    Conflict,
    DecisionTimeout,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    SignoffError,
    TransportError,
    Unauthorized,
)

__all__ = [
    "APIError",
    "ApprovalExpired",
    "ApprovalRejected",
    "ApprovalsClient",
    "AsyncApprovalsClient",
    "Conflict",
    "DecisionTimeout",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "SignoffError",
    "TransportError",
    "Unauthorized",
]
