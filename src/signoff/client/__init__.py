"""HTTP clients (sync and async from one implementation) for signoff's two APIs."""

from signoff.client._transport import RetryPolicy
from signoff.client.approvals import ApprovalsClient, AsyncApprovalsClient, require_approved
from signoff.client.errors import (
    APIError,
    ApprovalCancelled,
    ApprovalExpired,
    ApprovalRejected,
    Conflict,
    DecisionTimeout,
    InvalidRequest,
    NotFound,
    Problem,
    RateLimited,
    ServerError,
    SignoffError,
    TransportError,
    Unauthorized,
)
from signoff.client.policies import AsyncPoliciesClient, PoliciesClient
from signoff.client.reviewers import AsyncReviewersClient, ReviewersClient
from signoff.client.webhooks import (
    AsyncWebhooksClient,
    AsyncWorkflowsClient,
    WebhooksClient,
    WorkflowsClient,
    webhooks_key,
)

__all__ = [
    "APIError",
    "ApprovalCancelled",
    "ApprovalExpired",
    "ApprovalRejected",
    "ApprovalsClient",
    "AsyncApprovalsClient",
    "AsyncPoliciesClient",
    "AsyncReviewersClient",
    "AsyncWebhooksClient",
    "AsyncWorkflowsClient",
    "Conflict",
    "DecisionTimeout",
    "InvalidRequest",
    "NotFound",
    "PoliciesClient",
    "Problem",
    "RateLimited",
    "RetryPolicy",
    "ReviewersClient",
    "ServerError",
    "SignoffError",
    "TransportError",
    "Unauthorized",
    "WebhooksClient",
    "WorkflowsClient",
    "require_approved",
    "webhooks_key",
]
